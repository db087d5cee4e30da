//! Policy files (`rules/`): TODO
