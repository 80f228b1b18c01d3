// A follow loop's pause that a wake-up cuts short: the bus says the ticket changed, or the
// cashier (the customer, at a kiosk) cancels, now or while the last status call was on its way.
// Shared by the POS (payment_cashkeeper.js) and the kiosk (pos_self_order_cashkeeper).

/** Make ``follower`` wakeable: its ``wake()`` may be called at any time. */
export function wakeable(follower) {
    follower.woken = false;
    follower.wake = () => (follower.woken = true);
    return follower;
}

/** Wait ``delay`` ms, or less if ``follower`` is woken (or was, since the last pause). */
export function sleepUnlessWoken(follower, delay) {
    return new Promise((resolve) => {
        if (follower.woken) {
            follower.woken = false;
            return resolve();
        }
        const done = () => {
            clearTimeout(timer);
            follower.wake = () => (follower.woken = true);
            resolve();
        };
        const timer = setTimeout(done, delay);
        follower.wake = done;
    });
}
