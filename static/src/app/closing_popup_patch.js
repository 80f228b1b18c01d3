import { ClosePosPopup } from "@point_of_sale/app/navbar/closing_popup/closing_popup";

// The server adds "cashkeeper" to the closing data (models/pos_session.py): the drawer's takings
// against the books, and a warning when they differ or a ticket may still take cash.
ClosePosPopup.props = [...ClosePosPopup.props, "cashkeeper?"];
