NAME = "helper-ok"
