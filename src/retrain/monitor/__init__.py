"""Monitoring of the champion: drift statistics, the `monitor` command, repository_dispatch."""
