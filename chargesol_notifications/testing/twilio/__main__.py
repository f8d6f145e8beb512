"""``python -m chargesol_notifications.testing.twilio``: the stand-in beside ``runserver``.

See :mod:`.local` and the documentation page "Running the Twilio stand-in beside runserver".
"""

import sys

from .local import main

if __name__ == "__main__":
    sys.exit(main())
