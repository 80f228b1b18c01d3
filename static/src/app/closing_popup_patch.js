import { ClosePosPopup } from "@point_of_sale/app/navbar/closing_popup/closing_popup";

// The server adds cashkeeper_warning to the closing data (models/pos_session.py).
ClosePosPopup.props = [...ClosePosPopup.props, "cashkeeper_warning?"];
