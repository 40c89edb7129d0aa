from embassy.cli.launch import entry

entry()
