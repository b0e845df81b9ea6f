from .cli import app

app(prog_name="python -m fluorodn_train")
