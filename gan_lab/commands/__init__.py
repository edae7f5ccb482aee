"""The ``gan-lab`` sub-commands, one module each (registered in gan_lab.cli.COMMANDS).

A command module parses its arguments, calls library code and prints what it wrote; the work itself
lives in the library (gan_lab.train.train, gan_lab.evaluation, gan_lab.albedo, gan_lab.synth,
gan_lab.report, gan_lab.sweep).
"""
