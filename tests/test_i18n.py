import io
from pathlib import Path

from babel.messages.pofile import read_po
from odoo.tests import TransactionCase, tagged
from odoo.tools.translate import trans_export

I18N = Path(__file__).resolve().parents[1] / "i18n"
LANGUAGES = ("es", "ca")
# The kiosk bridge is an addon of its own in a folder of this one: Odoo's export counts its
# files as this addon's too, but its terms live in its own catalogues.
BRIDGE = "addons/pos_cashkeeper/pos_self_order_cashkeeper/"


def _catalog(path):
    with open(path, "rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id}


def assert_catalogues_complete(test, module, folder):
    """Every term Odoo extracts from ``module`` today (fields, views, Python messages, POS and
    kiosk strings) is in ``folder``'s .pot, and has a translation in each catalogue."""
    buffer = io.BytesIO()
    trans_export(None, [module], buffer, "po", test.env.cr)
    buffer.seek(0)
    current = {m.id for m in read_po(buffer) if m.id and not (
        module == "pos_cashkeeper" and m.locations and all(BRIDGE in loc for loc, _l in m.locations))}
    shipped = set(_catalog(folder / f"{module}.pot"))
    test.assertFalse(current - shipped, f"terms missing from i18n/{module}.pot: re-export it")
    test.assertFalse(shipped - current, f"stale terms in i18n/{module}.pot: re-export it")
    for lang in LANGUAGES:
        catalog = _catalog(folder / f"{lang}.po")
        untranslated = sorted(term for term in current if not catalog.get(term))
        test.assertEqual(untranslated, [], f"{lang}.po: untranslated terms")


@tagged("post_install", "-at_install")
class TestCashKeeperCatalogues(TransactionCase):
    def test_pot_is_up_to_date_and_every_term_is_translated(self):
        assert_catalogues_complete(self, "pos_cashkeeper", I18N)

    def test_spanish_messages_reach_the_user(self):
        self.env["res.lang"]._activate_lang("es_ES")
        self.env["ir.module.module"]._load_module_terms(["pos_cashkeeper"], ["es_ES"], overwrite=True)
        fields_es = self.env["ir.model.fields"].with_context(lang="es_ES")
        label = fields_es._get("pos.payment.method", "cashkeeper_use_agent")
        self.assertNotEqual(label.field_description, "Use on-site agent")
        agent = self.env["pos.cashkeeper.agent"].create({"name": "Tienda"})
        self.assertIn("agente", agent.with_context(lang="es_ES")._offline_message().lower())

