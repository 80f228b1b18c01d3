# Shortcuts for tools/dev (ODOO_SRC and the other variables of tools/dev apply).
.PHONY: setup demo test chaos bench
setup:
	tools/dev setup
demo:
	tools/dev demo
test:
	tools/dev test
chaos:
	tools/dev chaos
bench:
	tools/dev bench
