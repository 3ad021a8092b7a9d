//! The lean grammar (`grammar/fast.pest`): the same language as `scenario.pest`, parsed with
//! fewer failed attempts. Its pairs go through the same lowering, their rules mapped to the
//! full grammar's by name.

use pest::pratt_parser::PrattParser;
use std::sync::LazyLock;

use super::lower::{pratt_table, Grammar};
use super::parser::Rule as Full;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/fast.pest"]
pub(super) struct FastParser;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| pratt_table!(Rule));

/// Every rule of the lean grammar, each the namesake of a rule of the full one (the match is
/// exhaustive: a new rule not listed here does not compile).
macro_rules! same_names {
    ($($name:ident)*) => {
        impl Grammar for Rule {
            fn canon(self) -> Full {
                match self {
                    $(Rule::$name => Full::$name,)*
                }
            }

            fn pratt() -> &'static PrattParser<Rule> {
                &PRATT
            }
        }
    };
}

same_names!(
    EOI WHITESPACE comment comment_text nl sep lead ident_start ident_continue ident kw_block
    kw_scenario kw_user kw_global kw_on kw_anytime kw_start kw_message kw_webhook kw_fallback
    kw_contains kw_say kw_button kw_link kw_wait kw_timeout kw_set kw_unset kw_elif kw_match
    kw_goto kw_call kw_return kw_end kw_extract kw_from kw_http kw_notify kw_log kw_schedule
    kw_cancel kw_as kw_header kw_query kw_form kw_json kw_text kw_redirects kw_body kw_status
    kw_headers kw_error kw_if kw_else kw_like kw_matches arrow fat_arrow var var_path var_seg
    string number integer duration regex regex_body regex_flags item_step item_end item header
    declaration trigger event ev_start ev_message ev_webhook ev_fallback target block body
    statement text say buttons button_item button link wait wait_timeout set assign_op lvalue
    unset if_stmt elif_part else_part match_stmt arm arm_else patterns pattern like_pattern
    signed_number goto call return_stmt end_stmt extract extract_kind notify log schedule cancel
    http method http_block http_option header_opt header_name query_opt query_name param_name
    form_opt json_opt text_opt timeout_opt redirects_opt body_to status_to headers_to on_error
    expr pipe cond_expr op_expr prefix neg not infix or and eq ne le ge lt gt not_in in_op like
    matches add sub pow mul floor_div div postfix_expr method_call index member member_name
    primary literal paren list dict pair call_expr args arg lambda name reserved template_expr
);
