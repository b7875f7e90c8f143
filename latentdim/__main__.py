from latentdim.cli import cli

cli()
