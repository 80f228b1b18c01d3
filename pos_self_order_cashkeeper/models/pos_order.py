"""The shop's price of a kiosk order: the kiosk's page is public, so what it says a line costs is
never taken. Before a kiosk order's cash is asked for, and again before the cash pays it, each
line is priced from the shop's data, as Odoo's own kiosk route would if it priced every line:
* a product the kiosk sells (Odoo's kiosk product rules), at the config's pricelist for the line's
  quantity, plus the extras of the options chosen (attributes that make no variant);
* a combo at 0, its choices priced by Odoo's combo rule (pos_self_order's ``_verify_line_price``),
  each choice one item of one of the combo's own combos, once each, at the combo's quantity;
* no discount; the product's taxes (of the company) through the kiosk's fiscal position for the
  order (takeaway or not, as Odoo's route chooses it);
* the order's total as the sum of its lines, as Odoo's route writes it.
A line that differs is rewritten to the shop's price; a line the kiosk cannot sell is refused.
"""

from odoo import _, models
from odoo.exceptions import UserError
from odoo.osv import expression
from odoo.tools import float_compare, float_round


class PosOrder(models.Model):
    _inherit = "pos.order"

    def _kiosk_reprice(self):
        """Put the shop's prices on this kiosk order's lines and total. Returns whether anything
        the kiosk sent was changed; raises UserError (for the customer) for a line it cannot sell."""
        self.ensure_one()
        order = self.sudo()
        config, currency = order.config_id, order.currency_id
        digits = self.env["decimal.precision"].precision_get("Product Price")
        changed = False
        takeaway = bool(order.takeaway and config.self_ordering_takeaway)
        fiscal_position = config.takeaway_fp_id if takeaway else config.default_fiscal_position_id
        header = {"fiscal_position_id": fiscal_position.id, "takeaway": takeaway,
                  "pricelist_id": config.pricelist_id.id}
        if any(order._fields[f].convert_to_write(order[f], order) != v for f, v in header.items()):
            order.write(header)
            changed = True
        for line, price_unit in order._kiosk_shop_prices().items():
            taxes = line.product_id.taxes_id._filter_taxes_by_company(order.company_id)
            values = {}
            if float_compare(line.price_unit, price_unit, precision_digits=digits):
                values["price_unit"] = price_unit
            if line.discount:
                values["discount"] = 0.0
            if line.tax_ids != taxes:
                values["tax_ids"] = [(6, 0, taxes.ids)]
            if values:
                line.write(values)
            amounts = line._compute_amount_line_all()
            if values or any(currency.compare_amounts(line[f], amounts[f]) for f in amounts):
                line.write(amounts)
                changed = True
        total = sum(order.lines.mapped("price_subtotal_incl"))
        tax = total - sum(order.lines.mapped("price_subtotal"))
        if currency.compare_amounts(order.amount_total, total) or currency.compare_amounts(order.amount_tax, tax):
            order.write({"amount_total": total, "amount_tax": tax})
            changed = True
        return changed

    def _kiosk_shop_prices(self):
        """{line: the shop's unit price} for every line; raises UserError for a line the kiosk cannot
        sell (so nothing is guessed)."""
        sellable = self.env["product.product"].search(expression.AND([
            self.config_id._get_available_product_domain(), [("self_order_available", "=", True)],
            [("id", "in", self.lines.product_id.ids)]]))
        prices = {}
        if not self.lines:
            raise UserError(_("Your order is empty."))
        for line in self.lines.filtered(lambda line: not line.combo_parent_id):
            product = line.product_id
            if line.qty <= 0 or product not in sellable:
                raise UserError(_("%s cannot be ordered here: please remove it from your order, or ask staff.",
                                  line.full_product_name or product.display_name))
            if line.combo_item_id:
                raise UserError(_("Your order has a combo choice without its combo: please start again."))
            extras = self._kiosk_option_extras(line)
            if product.type == "combo":
                prices[line] = 0.0  # the choices carry the combo's price
                prices.update(self._kiosk_combo_prices(line))
            else:
                prices[line] = self._kiosk_list_price(product, line.qty, extras)
        if len(prices) != len(self.lines):  # a choice under a line that is no combo
            raise UserError(_("Your order has a combo choice without its combo: please start again."))
        return prices

    def _kiosk_list_price(self, product, qty, extras=0.0):
        pricelist = self.config_id.pricelist_id
        if not pricelist:
            return product.lst_price + extras
        return pricelist._get_product_price(product.with_context(no_variant_attributes_price_extra=extras), qty,
                                            currency=self.currency_id)

    def _kiosk_option_extras(self, line):
        """The extras of the options chosen on a line (attributes that make no variant: the
        variant's own price has the others), once each option is shown to be the product's."""
        values = line.attribute_value_ids
        if values - line.product_id.product_tmpl_id.attribute_line_ids.product_template_value_ids:
            raise UserError(_("An option of %s is not offered here: please start again.",
                              line.full_product_name or line.product_id.display_name))
        return sum(values.filtered(lambda v: v.attribute_id.create_variant != "always").mapped("price_extra"))

    def _kiosk_combo_prices(self, line):
        """Odoo's combo rule (pos_self_order's ``_verify_line_price``): the combo's price shared
        among its choices in proportion to their combos' base prices, the rounding left on the
        last one, plus each choice's extra price and options."""
        product, choices = line.product_id, line.combo_line_ids
        combos = choices.combo_item_id.combo_id
        digits = self.env["decimal.precision"].precision_get("Product Price")
        if (len(choices) != len(product.combo_ids) or combos != product.combo_ids
                or any(c.product_id != c.combo_item_id.product_id or c.qty != line.qty for c in choices)):
            raise UserError(_("The choices of %s are not the ones offered here: please start again.",
                              line.full_product_name or product.display_name))
        combo_price = self._kiosk_list_price(product, line.qty)
        original_total = sum(combos.mapped("base_price"))
        factor = combo_price / original_total if original_total > 0 else 1
        remaining, prices = combo_price, {}
        for index, choice in enumerate(choices):
            price = float_round(choice.combo_item_id.combo_id.base_price * factor, precision_digits=digits)
            remaining -= price
            if index == len(choices) - 1:
                price += remaining
            prices[choice] = price + choice.combo_item_id.extra_price + self._kiosk_option_extras(choice)
        return prices

    def _cashkeeper_refund_problem(self):
        # Kiosk sales are never refunded by a payout at a CashKeeper: the kiosk has no cashier to
        # hand the cash over, and a till's drawer is not the kiosk's (one drawer, one kind of use).
        kiosk = self.filtered(lambda o: o.sudo().config_id.self_ordering_mode == "kiosk")
        if kiosk:
            return _("%s is a kiosk order: kiosk orders are not refunded at a CashKeeper. Refund it with another "
                     "payment method.", ", ".join(kiosk.mapped(lambda o: o.pos_reference or o.name)))
        return super()._cashkeeper_refund_problem()
