//! Recursive descent over the tokens of [`super::lexer`], into [`Query`].

use domain::{Anchoring, FieldCondition, FieldName, FieldOp, LineCondition, LineParser, Pattern};

use crate::lexer::{Token, tokens};
use crate::{
    Aggregation, AggregationOperator, LogqlError, MetricQuery, Query, RangeFunction, Selection,
};

/// Functions and operators of LogQL outside the subset, refused by name.
const UNSUPPORTED_FUNCTIONS: [&str; 22] = [
    "avg",
    "min",
    "max",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "sort",
    "sort_desc",
    "approx_topk",
    "avg_over_time",
    "sum_over_time",
    "min_over_time",
    "max_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
    "first_over_time",
    "last_over_time",
    "absent_over_time",
    "rate_counter",
    "label_replace",
];

/// Pipeline stages outside the subset, refused by name.
const UNSUPPORTED_STAGES: [&str; 9] = [
    "line_format",
    "label_format",
    "pattern",
    "regexp",
    "unpack",
    "unwrap",
    "decolorize",
    "keep",
    "distinct",
];

const SUPPORTED: &str =
    "supported: count_over_time, rate, bytes_over_time, bytes_rate, sum and count (by labels)";

/// Parses `query` as LogQL of the supported subset.
pub fn parse(query: &str) -> Result<Query, LogqlError> {
    let tokens = tokens(query)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        end_column: query.chars().count() + 1,
    };
    let parsed = parser.expression()?;
    parser.finish()?;
    Ok(parsed)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    at: usize,
    end_column: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(token, _)| token)
    }

    fn column(&self) -> usize {
        self.tokens
            .get(self.at)
            .map_or(self.end_column, |(_, column)| *column)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).map(|(token, _)| token.clone());
        self.at += 1;
        token
    }

    fn is_symbol(&self, symbol: &str) -> bool {
        matches!(self.peek(), Some(Token::Symbol(found)) if *found == symbol)
    }

    fn is_name(&self, name: &str) -> bool {
        matches!(self.peek(), Some(Token::Name(found)) if found == name)
    }

    fn unexpected(&self, expected: &str) -> LogqlError {
        let found = self
            .peek()
            .map_or_else(|| "the end of the query".to_owned(), Token::describe);
        LogqlError::syntax(
            self.column(),
            format!("unexpected {found}, expected {expected}"),
        )
    }

    fn expect_symbol(&mut self, symbol: &str) -> Result<(), LogqlError> {
        if self.is_symbol(symbol) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{symbol}`")))
        }
    }

    fn expect_name(&mut self, what: &str) -> Result<String, LogqlError> {
        match self.peek() {
            Some(Token::Name(name)) => {
                let name = name.clone();
                self.at += 1;
                Ok(name)
            }
            _ => Err(self.unexpected(what)),
        }
    }

    fn expect_text(&mut self) -> Result<String, LogqlError> {
        match self.peek() {
            Some(Token::Text(text)) => {
                let text = text.clone();
                self.at += 1;
                Ok(text)
            }
            _ => Err(self.unexpected("a string")),
        }
    }

    /// Nothing may follow a complete query; a binary operator is named as unsupported.
    fn finish(&mut self) -> Result<(), LogqlError> {
        match self.peek() {
            None => Ok(()),
            Some(Token::Symbol(symbol))
                if [
                    "+", "-", "*", "/", "%", "^", "==", "!=", ">", ">=", "<", "<=",
                ]
                .contains(symbol) =>
            {
                Err(LogqlError::unsupported(format!(
                    "binary operations on queries (`{symbol}`)"
                )))
            }
            Some(Token::Name(name)) if ["and", "or", "unless"].contains(&name.as_str()) => Err(
                LogqlError::unsupported(format!("binary operations on queries (`{name}`)")),
            ),
            Some(Token::Name(name)) if name == "offset" => Err(LogqlError::unsupported("`offset`")),
            Some(_) => Err(self.unexpected("the end of the query")),
        }
    }

    fn expression(&mut self) -> Result<Query, LogqlError> {
        match self.peek() {
            Some(Token::Symbol("{")) => Ok(Query::Logs(self.selection()?)),
            Some(Token::Symbol("(")) => {
                self.at += 1;
                let inner = self.expression()?;
                self.expect_symbol(")")?;
                Ok(inner)
            }
            Some(Token::Name(name)) => {
                let name = name.clone();
                match name.as_str() {
                    "vector" => self.constant(),
                    "sum" | "count" => Ok(Query::Metric(self.aggregation()?)),
                    _ if range_function(&name).is_some() => Ok(Query::Metric(self.range(None)?)),
                    _ if UNSUPPORTED_FUNCTIONS.contains(&name.as_str()) => {
                        Err(LogqlError::unsupported(format!("`{name}` ({SUPPORTED})")))
                    }
                    _ => Err(self.unexpected("a stream selector `{...}` or a metric function")),
                }
            }
            Some(Token::Number(_)) => Err(LogqlError::unsupported(
                "scalar expressions (only `vector(n)` constants are answered)",
            )),
            _ => Err(self.unexpected("a stream selector `{...}` or a metric function")),
        }
    }

    /// `vector(n)` terms joined by `+ - * /`, evaluated: what Grafana's health check sends.
    fn constant(&mut self) -> Result<Query, LogqlError> {
        let mut total = self.constant_product()?;
        while let Some(Token::Symbol(symbol @ ("+" | "-"))) = self.peek() {
            let symbol = *symbol;
            self.at += 1;
            let right = self.constant_product()?;
            total = if symbol == "+" {
                total + right
            } else {
                total - right
            };
        }
        Ok(Query::Constant(total))
    }

    fn constant_product(&mut self) -> Result<f64, LogqlError> {
        let mut product = self.constant_term()?;
        while let Some(Token::Symbol(symbol @ ("*" | "/"))) = self.peek() {
            let symbol = *symbol;
            self.at += 1;
            let right = self.constant_term()?;
            product = if symbol == "*" {
                product * right
            } else {
                product / right
            };
        }
        Ok(product)
    }

    fn constant_term(&mut self) -> Result<f64, LogqlError> {
        if !self.is_name("vector") {
            return Err(LogqlError::unsupported(
                "binary operations other than between `vector(n)` constants",
            ));
        }
        self.at += 1;
        self.expect_symbol("(")?;
        let value = match self.next() {
            Some(Token::Number(number)) => number,
            _ => {
                self.at -= 1;
                return Err(self.unexpected("a number"));
            }
        };
        self.expect_symbol(")")?;
        Ok(value)
    }

    /// `sum|count [by (..)] (range) [by (..)]`.
    fn aggregation(&mut self) -> Result<MetricQuery, LogqlError> {
        let operator = match self.expect_name("sum or count")?.as_str() {
            "sum" => AggregationOperator::Sum,
            _ => AggregationOperator::Count,
        };
        let mut by = self.grouping()?;
        self.expect_symbol("(")?;
        let inner = match self.peek() {
            Some(Token::Name(name)) if range_function(name).is_some() => {
                self.range(Some(Aggregation {
                    operator,
                    by: Vec::new(),
                }))?
            }
            Some(Token::Name(name))
                if ["sum", "count"].contains(&name.as_str())
                    || UNSUPPORTED_FUNCTIONS.contains(&name.as_str()) =>
            {
                return Err(LogqlError::unsupported(format!(
                    "nested aggregations (`{name}` inside an aggregation)"
                )));
            }
            _ => {
                return Err(self.unexpected("count_over_time, rate, bytes_over_time or bytes_rate"));
            }
        };
        self.expect_symbol(")")?;
        if by.is_none() {
            by = self.grouping()?;
        }
        Ok(MetricQuery {
            aggregation: Some(Aggregation {
                operator,
                by: by.unwrap_or_default(),
            }),
            ..inner
        })
    }

    /// An optional `by (a, b)`; `without` is refused.
    fn grouping(&mut self) -> Result<Option<Vec<String>>, LogqlError> {
        if self.is_name("without") {
            return Err(LogqlError::unsupported("`without` (group with `by`)"));
        }
        if !self.is_name("by") {
            return Ok(None);
        }
        self.at += 1;
        self.expect_symbol("(")?;
        let mut labels = Vec::new();
        while !self.is_symbol(")") {
            labels.push(self.expect_name("a label name")?);
            if !self.is_symbol(")") {
                self.expect_symbol(",")?;
            }
        }
        self.at += 1;
        Ok(Some(labels))
    }

    /// `function(selection [range])`.
    fn range(&mut self, aggregation: Option<Aggregation>) -> Result<MetricQuery, LogqlError> {
        let name = self.expect_name("a metric function")?;
        let function = range_function(&name).ok_or_else(|| self.unexpected("a metric function"))?;
        self.expect_symbol("(")?;
        if !self.is_symbol("{") {
            return Err(self.unexpected("a stream selector `{...}`"));
        }
        let selection = self.selection()?;
        self.expect_symbol("[")?;
        let range_nanos = match self.next() {
            Some(Token::Duration(0, _)) => {
                self.at -= 1;
                return Err(LogqlError::syntax(
                    self.column(),
                    "the range must be longer than 0",
                ));
            }
            Some(Token::Duration(nanos, _)) => nanos,
            _ => {
                self.at -= 1;
                return Err(self.unexpected("a range such as 5m"));
            }
        };
        self.expect_symbol("]")?;
        if self.is_name("offset") {
            return Err(LogqlError::unsupported("`offset`"));
        }
        self.expect_symbol(")")?;
        Ok(MetricQuery {
            function,
            range_nanos,
            selection,
            aggregation,
        })
    }

    /// `{matchers} pipeline`.
    fn selection(&mut self) -> Result<Selection, LogqlError> {
        self.expect_symbol("{")?;
        let mut selection = Selection::default();
        loop {
            let name = self.expect_name("a label name")?;
            let op = match self.next() {
                Some(Token::Symbol("=")) => FieldOp::Equal,
                Some(Token::Symbol("!=")) => FieldOp::NotEqual,
                Some(Token::Symbol("=~")) => FieldOp::Matches,
                Some(Token::Symbol("!~")) => FieldOp::NotMatches,
                _ => {
                    self.at -= 1;
                    return Err(self.unexpected("=, !=, =~ or !~"));
                }
            };
            let value = self.expect_text()?;
            selection.fields.push(field_condition(&name, op, &value)?);
            if self.is_symbol(",") {
                self.at += 1;
                continue;
            }
            break;
        }
        self.expect_symbol("}")?;
        self.pipeline(&mut selection)?;
        Ok(selection)
    }

    fn pipeline(&mut self, selection: &mut Selection) -> Result<(), LogqlError> {
        loop {
            match self.peek() {
                Some(Token::Symbol(op @ ("|=" | "!=" | "|~" | "!~"))) => {
                    let op = *op;
                    self.at += 1;
                    selection.lines.push(self.line_filter(op)?);
                }
                Some(Token::Symbol("|>")) => {
                    return Err(LogqlError::unsupported("pattern line filters (`|>`, `!>`)"));
                }
                Some(Token::Symbol("|")) => {
                    self.at += 1;
                    self.stage(selection)?;
                }
                _ => return Ok(()),
            }
        }
    }

    fn line_filter(&mut self, op: &str) -> Result<LineCondition, LogqlError> {
        if let Some(Token::Name(name)) = self.peek() {
            return Err(LogqlError::unsupported(format!(
                "the `{name}(...)` line filter"
            )));
        }
        let text = self.expect_text()?;
        if self.is_name("or") {
            return Err(LogqlError::unsupported(
                "`or` between line filters (write a regular expression with `|~`)",
            ));
        }
        let pattern = || {
            Pattern::new(&text, Anchoring::AnyPart, "line filter")
                .map_err(|error| LogqlError::invalid(format!("{error}: {text:?}")))
        };
        Ok(match op {
            "|=" => LineCondition::Contains(text.clone()),
            "!=" => LineCondition::NotContains(text.clone()),
            "|~" => LineCondition::Matches(pattern()?),
            _ => LineCondition::NotMatches(pattern()?),
        })
    }

    /// The stage after a `|`: a label filter expression, or a no-op `drop __error__`.
    fn stage(&mut self, selection: &mut Selection) -> Result<(), LogqlError> {
        let name = match self.peek() {
            Some(Token::Name(name)) => name.clone(),
            Some(Token::Symbol("(")) => {
                return Err(LogqlError::unsupported("parenthesised label filters"));
            }
            _ => return Err(self.unexpected("a pipeline stage")),
        };
        match name.as_str() {
            "json" => self.parser_stage(selection, LineParser::Json),
            "logfmt" => self.parser_stage(selection, LineParser::Logfmt),
            "drop" => self.drop_errors(),
            // Stage names are keywords of LogQL, never label names (`| keep="x"` is not LogQL).
            _ if UNSUPPORTED_STAGES.contains(&name.as_str()) => {
                Err(LogqlError::unsupported(format!("`| {name}`")))
            }
            _ => self.label_filters(selection),
        }
    }

    /// `| json` or `| logfmt`, without parameters, once per pipeline.
    fn parser_stage(
        &mut self,
        selection: &mut Selection,
        parser: LineParser,
    ) -> Result<(), LogqlError> {
        self.at += 1;
        if matches!(
            self.peek(),
            Some(Token::Name(_) | Token::Symbol("-" | "--"))
        ) {
            return Err(LogqlError::unsupported(format!(
                "`| {parser}` with parameters or flags (write `| {parser}` alone)"
            )));
        }
        if let Some(first) = selection.parser {
            return Err(LogqlError::unsupported(format!(
                "a second parser stage (`| {parser}` after `| {first}`)"
            )));
        }
        selection.parser = Some(parser);
        Ok(())
    }

    /// `drop __error__, __error_details__`: nothing to drop, since reading stored logs never
    /// fails a line; dropping any other label is refused.
    fn drop_errors(&mut self) -> Result<(), LogqlError> {
        self.at += 1;
        loop {
            let label = self.expect_name("a label name")?;
            if !["__error__", "__error_details__"].contains(&label.as_str()) {
                return Err(LogqlError::unsupported(format!(
                    "`| drop {label}` (only `__error__` and `__error_details__` may be dropped)"
                )));
            }
            if self.is_symbol("=") {
                return Err(LogqlError::unsupported("`| drop` with a value"));
            }
            if !self.is_symbol(",") {
                return Ok(());
            }
            self.at += 1;
        }
    }

    /// `a="x" and b>3, c=~"y"`: conjunctions only.
    fn label_filters(&mut self, selection: &mut Selection) -> Result<(), LogqlError> {
        loop {
            self.label_filter(selection)?;
            if self.is_name("and") || self.is_symbol(",") {
                self.at += 1;
            } else if self.is_name("or") {
                return Err(LogqlError::unsupported("`or` in label filters"));
            } else {
                return Ok(());
            }
        }
    }

    fn label_filter(&mut self, selection: &mut Selection) -> Result<(), LogqlError> {
        let name = self.expect_name("a label name")?;
        let field = selection.label(&name)?;
        let condition = |op: FieldOp, value: &str| {
            FieldCondition::new(field.clone(), op, value)
                .map_err(|error| LogqlError::invalid(format!("{error}: {value:?}")))
        };
        let op = match self.next() {
            Some(Token::Symbol(op)) => op,
            _ => {
                self.at -= 1;
                return Err(self.unexpected("a comparison"));
            }
        };
        match (op, self.next()) {
            ("=" | "==", Some(Token::Text(value))) => {
                selection.fields.push(condition(FieldOp::Equal, &value)?);
            }
            ("!=", Some(Token::Text(value))) => {
                selection.fields.push(condition(FieldOp::NotEqual, &value)?);
            }
            ("=~", Some(Token::Text(value))) => {
                selection.fields.push(condition(FieldOp::Matches, &value)?);
            }
            ("!~", Some(Token::Text(value))) => {
                selection
                    .fields
                    .push(condition(FieldOp::NotMatches, &value)?);
            }
            (">" | ">=" | "<" | "<=" | "==" | "=", Some(Token::Number(number))) => {
                let value = number.to_string();
                let ops: &[FieldOp] = match op {
                    ">" => &[FieldOp::Greater],
                    ">=" => &[FieldOp::GreaterOrEqual],
                    "<" => &[FieldOp::Less],
                    "<=" => &[FieldOp::LessOrEqual],
                    _ => &[FieldOp::GreaterOrEqual, FieldOp::LessOrEqual],
                };
                for op in ops {
                    selection.fields.push(condition(*op, &value)?);
                }
            }
            ("!=", Some(Token::Number(_))) => {
                return Err(LogqlError::unsupported("numeric `!=` in label filters"));
            }
            (_, Some(Token::Duration(_, text))) => {
                return Err(LogqlError::unsupported(format!(
                    "duration comparisons in label filters ({text})"
                )));
            }
            _ => {
                self.at -= 1;
                return Err(self.unexpected("a string or a number"));
            }
        }
        Ok(())
    }
}

fn range_function(name: &str) -> Option<RangeFunction> {
    match name {
        "count_over_time" => Some(RangeFunction::CountOverTime),
        "rate" => Some(RangeFunction::Rate),
        "bytes_over_time" => Some(RangeFunction::BytesOverTime),
        "bytes_rate" => Some(RangeFunction::BytesRate),
        _ => None,
    }
}

/// The label as a field: `service`, `level`, or else a metadata key.
pub fn label_field(name: &str) -> FieldName {
    match name {
        "service" => FieldName::Service,
        "level" => FieldName::Level,
        key => FieldName::Metadata(key.to_owned()),
    }
}

fn field_condition(name: &str, op: FieldOp, value: &str) -> Result<FieldCondition, LogqlError> {
    FieldCondition::new(label_field(name), op, value)
        .map_err(|error| LogqlError::invalid(format!("{error}: {value:?}")))
}
