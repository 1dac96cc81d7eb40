from retrain.cli import main

raise SystemExit(main())
