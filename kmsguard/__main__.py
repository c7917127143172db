from kmsguard.cli import main

raise SystemExit(main())
