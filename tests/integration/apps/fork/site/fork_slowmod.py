"""Imported by the 'master-slowimport' thread: its body does not finish while
$HERD_TEST_DIR/hold-import exists, so the module's import lock is held by a
master thread at every fork until then."""
import os
import time

import forkshared

forkshared.SLOWMOD_ENTERED.set()
while os.path.exists(forkshared.marker("hold-import")):
    time.sleep(0.01)
READY = True
