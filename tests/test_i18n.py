import io
from pathlib import Path

from babel.messages.pofile import read_po
from odoo.tests import TransactionCase, tagged
from odoo.tools.translate import trans_export

I18N = Path(__file__).resolve().parents[1] / "i18n"
LANGUAGES = ("es", "ca")


def _catalog(path):
    with open(path, "rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id}


@tagged("post_install", "-at_install")
class TestCashKeeperCatalogues(TransactionCase):
    def test_pot_is_up_to_date_and_every_term_is_translated(self):
        """Every term Odoo extracts from the addon today (fields, views, Python messages, POS
        strings) is in the .pot, and has a translation in each catalogue."""
        buffer = io.BytesIO()
        trans_export(None, ["pos_cashkeeper"], buffer, "po", self.env.cr)
        buffer.seek(0)
        current = {m.id for m in read_po(buffer) if m.id}
        shipped = set(_catalog(I18N / "pos_cashkeeper.pot"))
        self.assertFalse(current - shipped, "terms missing from i18n/pos_cashkeeper.pot: re-export it")
        self.assertFalse(shipped - current, "stale terms in i18n/pos_cashkeeper.pot: re-export it")
        for lang in LANGUAGES:
            catalog = _catalog(I18N / f"{lang}.po")
            untranslated = sorted(term for term in current if not catalog.get(term))
            self.assertEqual(untranslated, [], f"{lang}.po: untranslated terms")

    def test_spanish_messages_reach_the_user(self):
        self.env["res.lang"]._activate_lang("es_ES")
        self.env["ir.module.module"]._load_module_terms(["pos_cashkeeper"], ["es_ES"], overwrite=True)
        fields_es = self.env["ir.model.fields"].with_context(lang="es_ES")
        label = fields_es._get("pos.payment.method", "cashkeeper_use_agent")
        self.assertNotEqual(label.field_description, "Use on-site agent")
        agent = self.env["pos.cashkeeper.agent"].create({"name": "Tienda"})
        self.assertIn("agente", agent.with_context(lang="es_ES")._offline_message().lower())

