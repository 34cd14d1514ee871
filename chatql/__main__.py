"""`python -m chatql` starts the server, exactly like `chatql serve`."""

import sys

from chatql.cli import main

sys.exit(main())
