"""What every action runs through: the shims' client, the resident server, the driver, the
context, configuration, errors, StorPool API, names, undo-registering steps, host commands.
oned's documents are in onesp.one, the actions in onesp.actions. Nothing here imports
onesp.tools or onesp.sim (tests/unit/test_layers.py)."""
