//! Charts for the report (plotters; each as SVG and PNG, text in the vendored DejaVu Sans so no
//! system font library is needed): one file per chart — grouped bars (`bars`), robust accuracy
//! vs ε (`curves`), accuracy vs compute (`pareto`) — and what they share (`style`).

mod bars;
mod curves;
mod pareto;
mod style;

pub use bars::{bars, BarGroup};
pub use curves::{curves, Curve};
pub use pareto::{pareto, pareto_front, ParetoPoint};
