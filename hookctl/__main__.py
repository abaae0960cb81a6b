from hookctl.cli import main

raise SystemExit(main())
