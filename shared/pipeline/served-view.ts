/**
 * What the table stores of a customer's view, and the view a reader serves from it. A run writes a customer
 * item only when what the table stores changes; `tableViewOf` is that stored form of a full view.
 */
import type { CustomerView } from "../model";

/** The stored form of a customer view. */
export type TableView = CustomerView;

/** What the table stores for a full view. */
export function tableViewOf(view: CustomerView): TableView {
  return view;
}
