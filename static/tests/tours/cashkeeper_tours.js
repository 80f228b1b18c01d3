import * as Chrome from "@point_of_sale/../tests/tours/utils/chrome_util";
import * as Dialog from "@point_of_sale/../tests/tours/utils/dialog_util";
import * as PaymentScreen from "@point_of_sale/../tests/tours/utils/payment_screen_util";
import * as ProductScreen from "@point_of_sale/../tests/tours/utils/product_screen_util";
import * as ReceiptScreen from "@point_of_sale/../tests/tours/utils/receipt_screen_util";
import * as TicketScreen from "@point_of_sale/../tests/tours/utils/ticket_screen_util";
import { refresh } from "@point_of_sale/../tests/tours/utils/common";
import { registry } from "@web/core/registry";
import { agent, drawer } from "@pos_cashkeeper/../tests/tours/utils/drawer_control";
import { sellForCash } from "@pos_cashkeeper/../tests/tours/utils/sales";

const waitingForCash = {
    content: "the line waits for cash in the CashKeeper",
    trigger: ".paymentlines .cashkeeper_waiting:contains('Insert the cash in the CashKeeper')",
};

const lineCanBeRetried = {
    content: "the line offers Retry",
    trigger: ".paymentline .send_payment_request:contains('Retry')",
};

function dialogSays(text) {
    return [
        { content: `dialog says "${text}"`, trigger: `.modal .modal-body:contains("${text}")` },
        Dialog.confirm(),
    ];
}

function sellDeskPad() {
    return [
        Chrome.startPoS(),
        Dialog.confirm("Open Register"),
        ProductScreen.addOrderline("Desk Pad", "1"),
        ProductScreen.clickPayButton(),
        PaymentScreen.clickPaymentMethod("CashKeeper"),
    ];
}

// A sale waiting for cash, then the cashier presses Cancel: the ticket is abandoned.
function cashierCancelsWhileWaiting() {
    return [
        sellDeskPad(),
        waitingForCash,
        { content: "cashier cancels", trigger: ".paymentline .send_payment_cancel", run: "click" },
        dialogSays("Also cancel ticket"),
        lineCanBeRetried,
    ];
}

registry.category("web_tour.tours").add("CashKeeperPaidTour", {
    steps: () =>
        [sellDeskPad(), waitingForCash, drawer("pay-all"), ReceiptScreen.isShown()].flat(Infinity),
});

registry.category("web_tour.tours").add("CashKeeperDrawerCancelTour", {
    steps: () =>
        [
            sellDeskPad(),
            waitingForCash,
            drawer("cancel-all"),
            dialogSays("cancelled on the CashKeeper"),
            lineCanBeRetried,
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CashKeeperDownTour", {
    steps: () =>
        [
            sellDeskPad(),
            dialogSays("Cannot reach the CashKeeper (CKMonitor at 127.0.0.1:"),
            lineCanBeRetried,
            { ...lineCanBeRetried, content: "retry once CKMonitor is back", run: "click" },
            waitingForCash,
            drawer("pay-all"),
            ReceiptScreen.isShown(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CashKeeperReloadTour", {
    steps: () =>
        [
            sellDeskPad(),
            waitingForCash,
            refresh(),
            {
                content: "back to the payment screen after the reload",
                trigger: ".pos .pay-order-button, .pos .payment-screen",
                run: () => document.querySelector(".pos .pay-order-button")?.click(),
            },
            waitingForCash,
            drawer("pay-all"),
            ReceiptScreen.isShown(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CashKeeperAbandonTour", {
    steps: () =>
        [
            cashierCancelsWhileWaiting(),
            PaymentScreen.clickPaymentlineDelButton("CashKeeper", "1.98"),
            dialogSays("Also cancel ticket"), // removing the line abandons the ticket again
            PaymentScreen.clickPaymentMethod("Bank"),
            PaymentScreen.clickValidate(),
            ReceiptScreen.isShown(),
            drawer("pay-all"), // the customer pays at the drawer anyway, after the sale
            ReceiptScreen.clickNextOrder(),
            Chrome.clickMenuOption("Close Register"),
            {
                content: "closing the register warns about the abandoned ticket",
                trigger: ".modal .cashkeeper_closing_warning:contains('may still collect cash at the drawer')",
            },
            {
                content: "and shows the drawer's takings against the books",
                trigger: ".modal .cashkeeper_closing_figures:contains('the books hold'):contains('0.00.')",
            },
        ].flat(Infinity),
});

// With "auto-validate terminal payments" off, the paid line waits for the cashier's Validate.
const paidLineWaits = [
    waitingForCash,
    drawer("pay-all"),
    { content: "the CashKeeper line is done", trigger: ".paymentline:not(:has(.send_payment_cancel))" },
    PaymentScreen.validateButtonIsHighlighted(true),
];

registry.category("web_tour.tours").add("CashKeeperDeleteCollectedOrderTour", {
    steps: () =>
        [
            sellDeskPad(),
            paidLineWaits,
            {
                // Odoo's order list hides Delete for such an order; other paths (another screen,
                // an addon) still call onDeleteOrder: the POS refuses there too.
                content: "something deletes the order holding the collected cash",
                trigger: ".payment-screen",
                run: () => {
                    window.posmodel.onDeleteOrder(window.posmodel.get_order());
                },
            },
            Dialog.confirm(), // Odoo's "are you sure you want to delete this order?"
            dialogSays("The CashKeeper has collected a payment of this order: it cannot be deleted."),
            PaymentScreen.clickValidate(),
            ReceiptScreen.isShown(),
        ].flat(Infinity),
});

// Cash rounding (0.05): the CashKeeper line is rounded like cash (2.00 for 1.98), and once the
// drawer has it the order validates by itself like any terminal payment (the test turns Odoo's
// auto-validation off for the manual variant: the cashier validates).
const roundedLine = { content: "the CashKeeper line is rounded like cash", trigger: ".paymentline:contains('2.00')" };
registry.category("web_tour.tours").add("CashKeeperRoundedTour", {
    steps: () =>
        [sellDeskPad(), roundedLine, waitingForCash, drawer("pay-all"), ReceiptScreen.isShown()].flat(Infinity),
});
registry.category("web_tour.tours").add("CashKeeperRoundedManualTour", {
    steps: () =>
        [
            sellDeskPad(),
            roundedLine,
            paidLineWaits,
            PaymentScreen.clickValidate(),
            ReceiptScreen.isShown(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CashKeeperForgedAmountTour", {
    steps: () =>
        [
            sellDeskPad(),
            paidLineWaits,
            PaymentScreen.clickBack(),
            ProductScreen.clickDisplayedProduct("Desk Pad"), // a second one, after the drawer took 1.98
            ProductScreen.clickPayButton(),
            {
                content: "the cashier forges the paid line's amount with the browser's dev tools",
                trigger: ".payment-screen",
                run: () => {
                    const order = window.posmodel.get_order();
                    const line = order.payment_ids.find(
                        (l) => l.payment_method_id.use_payment_terminal === "cashkeeper"
                    );
                    line.set_amount(order.get_total_with_tax());
                },
            },
            PaymentScreen.clickValidate(),
            dialogSays("was not saved as paid"),
            PaymentScreen.isShown(),
            {
                content: "the refused order is unpaid again, without the forged line",
                trigger: ".payment-screen",
                run: () => {
                    const order = window.posmodel.get_order();
                    if (order.state !== "draft" || !order.cashkeeper_refusal || order.get_total_paid()) {
                        throw new Error(
                            `the refused order should be an unpaid draft with its reason: ${order.state}, ` +
                                `${order.cashkeeper_refusal}, paid ${order.get_total_paid()}`
                        );
                    }
                },
            },
            // The till goes on: the next orders sync as usual, the refused one waits in Orders.
            Chrome.createFloatingOrder(),
            sellForCash("1"),
            ReceiptScreen.clickNextOrder(),
            sellForCash("2"),
        ].flat(Infinity),
});

// The customer pays after the cashier cancelled; removing the line then keeps it, and Retry puts
// the collected cash on this order.
registry.category("web_tour.tours").add("CashKeeperLateRetryTour", {
    steps: () =>
        [
            cashierCancelsWhileWaiting(),
            drawer("pay-all"), // the customer pays anyway
            PaymentScreen.clickPaymentlineDelButton("CashKeeper", "1.98"),
            dialogSays("after it was cancelled. Press Retry on this line"),
            { ...lineCanBeRetried, content: "the line stays: Retry takes the cash", run: "click" },
            ReceiptScreen.isShown(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CashKeeperDoubleClickTour", {
    steps: () =>
        [
            Chrome.startPoS(),
            Dialog.confirm("Open Register"),
            ProductScreen.addOrderline("Desk Pad", "1"),
            ProductScreen.clickPayButton(),
            {
                content: "double-click the CashKeeper payment method",
                trigger: `.paymentmethods .button.paymentmethod .payment-name:contains("CashKeeper")`,
                run: ({ anchor }) => {
                    anchor.click();
                    anchor.click();
                },
            },
            dialogSays("already an electronic payment in progress"),
            waitingForCash,
            drawer("pay-all"),
            ReceiptScreen.isShown(),
        ].flat(Infinity),
});

// The browser loses Odoo for a while (POS offline): requests to our endpoints fail as a lost
// connection does, then the network comes back.
function odooUnreachableFor(ms) {
    return {
        content: `Odoo unreachable from the browser for ${ms} ms`,
        trigger: "body",
        run: () => {
            const { open, send } = XMLHttpRequest.prototype;
            XMLHttpRequest.prototype.open = function (method, url, ...rest) {
                this.ckUrl = String(url);
                return open.call(this, method, url, ...rest);
            };
            XMLHttpRequest.prototype.send = function (...args) {
                if (this.ckUrl.includes("/pos_cashkeeper/")) {
                    setTimeout(() => this.dispatchEvent(new ProgressEvent("error")), 10);
                    return;
                }
                return send.apply(this, args);
            };
            setTimeout(() => Object.assign(XMLHttpRequest.prototype, { open, send }), ms);
        },
    };
}

registry.category("web_tour.tours").add("CashKeeperOfflineTour", {
    steps: () =>
        [
            sellDeskPad(),
            waitingForCash,
            odooUnreachableFor(2000),
            {
                content: "the line says Odoo is unreachable and keeps waiting",
                trigger: ".paymentlines .cashkeeper_info:contains('No connection to Odoo')",
            },
            drawer("pay-all"), // the customer pays while the POS is offline
            ReceiptScreen.isShown(),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CashKeeperCloudAgentRestartTour", {
    steps: () =>
        [
            agent("start"),
            sellDeskPad(),
            waitingForCash,
            agent("wait-queued"),
            agent("stop"), // graceful stop mid-payment: Odoo shows the agent offline at once
            {
                content: "the line says the agent is offline and keeps waiting",
                trigger: ".paymentlines .cashkeeper_info:contains('agent of this shop')",
            },
            drawer("pay-all"), // the customer pays while the agent is down
            agent("start"),
            ReceiptScreen.isShown(),
            agent("stop"),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CashKeeperCloudPaidTour", {
    steps: () =>
        [
            agent("start"),
            sellDeskPad(),
            waitingForCash,
            agent("wait-queued"),
            drawer("pay-all"),
            ReceiptScreen.isShown(),
            agent("stop"),
        ].flat(Infinity),
});

registry.category("web_tour.tours").add("CashKeeperCloudDrawerCancelTour", {
    steps: () =>
        [
            agent("start"),
            sellDeskPad(),
            waitingForCash,
            agent("wait-queued"),
            drawer("cancel-all"),
            dialogSays("cancelled on the CashKeeper"),
            lineCanBeRetried,
            agent("stop"),
        ].flat(Infinity),
});

// The same sale with the cashier's Odoo in Spanish (es_ES): our strings come from i18n/es.po.
registry.category("web_tour.tours").add("CashKeeperSpanishTour", {
    steps: () =>
        [
            Chrome.startPoS(),
            Dialog.confirm("Abrir caja registradora"),
            ProductScreen.clickDisplayedProduct("Desk Pad"), // (quantities read "1,00" in Spanish)
            ProductScreen.clickPayButton(),
            PaymentScreen.clickPaymentMethod("CashKeeper"),
            {
                content: "the line waits for cash, in Spanish",
                trigger: ".paymentlines .cashkeeper_waiting:contains('Introduzca el efectivo en el CashKeeper')",
            },
            drawer("pay-all"),
            ReceiptScreen.isShown(),
        ].flat(Infinity),
});
