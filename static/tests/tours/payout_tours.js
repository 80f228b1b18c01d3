import * as Chrome from "@point_of_sale/../tests/tours/utils/chrome_util";
import * as Dialog from "@point_of_sale/../tests/tours/utils/dialog_util";
import * as PaymentScreen from "@point_of_sale/../tests/tours/utils/payment_screen_util";
import * as ProductScreen from "@point_of_sale/../tests/tours/utils/product_screen_util";
import * as ReceiptScreen from "@point_of_sale/../tests/tours/utils/receipt_screen_util";
import * as TicketScreen from "@point_of_sale/../tests/tours/utils/ticket_screen_util";
import { registry } from "@web/core/registry";
import { agent } from "@pos_cashkeeper/../tests/tours/utils/drawer_control";
import { sellForCash } from "@pos_cashkeeper/../tests/tours/utils/sales";

// A Desk Pad sold for cash, then refunded on the CashKeeper (a negative line).
function refundOnTheCashKeeper() {
    return [
        Chrome.startPoS(),
        Dialog.confirm("Open Register"),
        sellForCash(),
        ReceiptScreen.clickNextOrder(),
        Chrome.clickMenuOption("Orders"),
        TicketScreen.selectFilter("Paid"),
        TicketScreen.selectOrder("-0001"),
        TicketScreen.confirmRefund(),
        ProductScreen.clickPayButton(),
        PaymentScreen.clickPaymentMethod("CashKeeper"),
    ];
}

const asksToPayOut = {
    content: "the POS says what to pay out, and how",
    trigger: '.modal .modal-body:contains("Pay out $ 1.98 to the customer at the CashKeeper")',
};

// The cashier pays out at the drawer and confirms: the refund validates by itself.
registry.category("web_tour.tours").add("CashKeeperPayoutTour", {
    steps: () =>
        [refundOnTheCashKeeper(), asksToPayOut, Dialog.confirm("Paid out"), ReceiptScreen.isShown()].flat(
            Infinity
        ),
});

// The same in cloud mode, with the shop's agent running (a payout never reaches it).
registry.category("web_tour.tours").add("CashKeeperCloudPayoutTour", {
    steps: () =>
        [
            agent("start"),
            refundOnTheCashKeeper(),
            asksToPayOut,
            Dialog.confirm("Paid out"),
            ReceiptScreen.isShown(),
            agent("stop"),
        ].flat(Infinity),
});

// The method does not pay out: the POS says so and what to do; the refund goes on another method.
registry.category("web_tour.tours").add("CashKeeperPayoutRefusedTour", {
    steps: () =>
        [
            refundOnTheCashKeeper(),
            {
                content: "refused, with what to do",
                trigger: '.modal .modal-body:contains("does not pay out refunds: refund with another payment method")',
            },
            Dialog.confirm(),
            PaymentScreen.clickPaymentlineDelButton("CashKeeper", "-1.98"),
            PaymentScreen.clickPaymentMethod("Cash"),
            PaymentScreen.clickValidate(),
            ReceiptScreen.isShown(),
        ].flat(Infinity),
});

// A manager must confirm: the line waits, and completes by itself once a manager has confirmed.
registry.category("web_tour.tours").add("CashKeeperPayoutManagerTour", {
    steps: () =>
        [
            refundOnTheCashKeeper(),
            {
                content: "the cashier is told a manager confirms",
                trigger: '.modal .modal-body:contains("A POS manager then confirms it in Odoo")',
            },
            Dialog.confirm("Paid out"),
            {
                content: "the line waits for the manager",
                trigger: ".paymentlines .cashkeeper_waiting:contains('Waiting for a POS manager to confirm the payout')",
            },
            ReceiptScreen.isShown(),
        ].flat(Infinity),
});
