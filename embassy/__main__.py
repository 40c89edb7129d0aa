from embassy.cli.main import entry

entry()
