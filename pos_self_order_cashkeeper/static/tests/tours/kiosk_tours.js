import { registry } from "@web/core/registry";
import * as Utils from "@pos_self_order/../tests/tours/utils/common";
import * as CartPage from "@pos_self_order/../tests/tours/utils/cart_page_util";
import * as ConfirmationPage from "@pos_self_order/../tests/tours/utils/confirmation_page_util";
import * as ProductPage from "@pos_self_order/../tests/tours/utils/product_page_util";
import { agent, drawer } from "@pos_cashkeeper/../tests/tours/utils/drawer_control";

// The customer orders a Kiosk Burger (4.20) and pays it with the kiosk's only method, the
// CashKeeper: the payment page opens on it.
function orderAndPay() {
    return [
        Utils.clickBtn("Order Now"),
        ProductPage.clickProduct("Kiosk Burger"),
        Utils.clickBtn("Order"),
        CartPage.checkProduct("Kiosk Burger", "4.20", "1"),
        Utils.clickBtn("Pay"),
    ];
}

const waitingForCash = {
    content: "the kiosk asks for the cash",
    trigger: ".o_cashkeeper_insert:contains('4.20')",
};

function says(text) {
    return { content: `the kiosk says "${text}"`, trigger: `.o_cashkeeper_message:contains("${text}")` };
}

const paidAndConfirmed = [
    ConfirmationPage.isShown(),
    ConfirmationPage.orderNumberShown(),
    Utils.checkBtn("Close"),
];

const reload = {
    content: "the kiosk reloads",
    trigger: "body",
    run: () => window.location.reload(),
    expectUnloadPage: true,
};

registry.category("web_tour.tours").add("CashKeeperKioskPaidTour", {
    steps: () => [orderAndPay(), waitingForCash, drawer("pay-all"), paidAndConfirmed].flat(),
});

// While this kiosk waits for its customer's cash, Odoo tells every kiosk of the config that
// another kiosk's order is paid: this one stays on its own payment.
registry.category("web_tour.tours").add("CashKeeperKioskOtherKioskPaidTour", {
    steps: () =>
        [
            orderAndPay(),
            waitingForCash,
            {
                content: "another kiosk's order is paid meanwhile (the Python test tells the config)",
                trigger: "body",
                run: () => new Promise((resolve) => setTimeout(resolve, 2000)),
            },
            waitingForCash,
            drawer("pay-all"),
            paidAndConfirmed,
        ].flat(),
});

registry.category("web_tour.tours").add("CashKeeperKioskDrawerCancelTour", {
    steps: () =>
        [
            orderAndPay(),
            waitingForCash,
            drawer("cancel-all"),
            says("cancelled on the cash machine"),
            Utils.clickBtn("Try again"),
            waitingForCash,
            drawer("pay-all"),
            paidAndConfirmed,
        ].flat(),
});

registry.category("web_tour.tours").add("CashKeeperKioskCustomerCancelTour", {
    steps: () =>
        [
            orderAndPay(),
            waitingForCash,
            { content: "the customer cancels", trigger: ".o_cashkeeper_cancel", run: "click" },
            says("press cancel on the cash machine too"),
            drawer("pay-all"), // and inserts the cash anyway: the kiosk, still watching, says so
            says("took your cash after you cancelled"),
            Utils.clickBtn("Back"), // and the customer walks away
            { content: "back to the cart", trigger: ".btn:contains('Pay')" },
        ].flat(),
});

registry.category("web_tour.tours").add("CashKeeperKioskReloadTour", {
    steps: () =>
        [
            orderAndPay(),
            waitingForCash,
            reload,
            waitingForCash,
            drawer("pay-all"),
            paidAndConfirmed,
        ].flat(),
});

// The kiosk offers two CashKeeper methods: cancelled on the first drawer, the customer chooses the
// other one.
function chooseMethod(name) {
    return { content: `the customer chooses ${name}`, trigger: `.o_kiosk-card span:contains('${name}')`, run: "click" };
}

registry.category("web_tour.tours").add("CashKeeperKioskOtherMethodTour", {
    steps: () =>
        [
            orderAndPay(),
            chooseMethod("CashKeeper"),
            waitingForCash,
            drawer("cancel-all"),
            says("cancelled on the cash machine"),
            Utils.clickBtn("Other payment method"),
            chooseMethod("Coins and notes"),
            waitingForCash,
            drawer("pay-all"),
            paidAndConfirmed,
        ].flat(),
});

registry.category("web_tour.tours").add("CashKeeperKioskDownTour", {
    steps: () =>
        [
            orderAndPay(),
            says("does not answer"),
            says("Nothing was charged"),
            Utils.clickBtn("Try again"),
            waitingForCash,
            drawer("pay-all"),
            paidAndConfirmed,
        ].flat(),
});

// Cloud mode: the drawer is reached through the shop's on-site agent.
registry.category("web_tour.tours").add("CashKeeperKioskCloudPaidTour", {
    steps: () =>
        [
            agent("start"),
            orderAndPay(),
            waitingForCash,
            agent("wait-queued"),
            drawer("pay-all"),
            paidAndConfirmed,
            agent("stop"),
        ].flat(),
});

// A stale or tampered kiosk page says the burger costs 0.01: the cash machine asks for the shop's
// 4.20, and the customer sees it before inserting any cash.
registry.category("web_tour.tours").add("CashKeeperKioskShopPriceTour", {
    steps: () =>
        [
            Utils.clickBtn("Order Now"),
            {
                content: "the kiosk's page prices the burger at 0.01",
                trigger: "body",
                run: () => {
                    const burger = window.posmodel.models["product.product"].find(
                        (p) => p.name === "Kiosk Burger"
                    );
                    burger.lst_price = 0.01;
                },
            },
            ProductPage.clickProduct("Kiosk Burger"),
            Utils.clickBtn("Order"),
            CartPage.checkProduct("Kiosk Burger", "0.01", "1"),
            Utils.clickBtn("Pay"),
            waitingForCash,
            drawer("pay-all"),
            paidAndConfirmed,
        ].flat(),
});
