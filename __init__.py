# Odoo imports this addon as odoo.addons.pos_cashkeeper. Only then define models and routes:
# pytest, collecting ckfast's Odoo-free tests from the repo root, imports it under another name.
if __name__.startswith("odoo.addons."):
    from . import controllers, models, wizard
