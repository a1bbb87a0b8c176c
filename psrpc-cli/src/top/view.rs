//! Drawing the dashboard: a header line, the services table (or one
//! service's methods and instances), and a line of keys.

use std::time::{Duration, SystemTime};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};

use super::app::App;
use super::rates::{Figures, ServiceRow};

/// What the header says besides the rows: never the bus URL, which may
/// hold a password.
#[derive(Debug, Clone)]
pub(crate) struct Banner {
    /// The bus URL's scheme (`nats`, `redis`, …).
    pub(crate) scheme: String,
    /// The time between refreshes.
    pub(crate) interval: Duration,
}

const KEYS: &str = "↑↓/jk move  Enter open  Esc back  c calls  e errors  p p99  n name  r reverse  q quit";

/// Draws the whole screen.
pub(crate) fn draw(frame: &mut Frame<'_>, app: &App, banner: &Banner) {
    let [top, body, bottom] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1), Constraint::Length(1)]).areas(frame.area());
    frame.render_widget(Paragraph::new(header(app, banner)), top);
    frame.render_widget(Paragraph::new(KEYS).style(Style::new().add_modifier(Modifier::DIM)), bottom);
    match app.detail() {
        None => services(frame, app, body),
        Some((_, Some(service))) => detail(frame, service, body),
        Some((name, None)) => {
            let gone = format!("{name} has no live server now (Esc: back)");
            frame.render_widget(Paragraph::new(gone).block(Block::bordered().title(format!(" {name} "))), body);
        }
    }
}

fn header(app: &App, banner: &Banner) -> String {
    let servers: usize = app.services().iter().map(|s| s.servers.len()).sum();
    let time = app.refreshed.map_or_else(|| "waiting for the first refresh".to_owned(), clock);
    let arrow = if app.sort.descending { "↓" } else { "↑" };
    let mut line = format!(
        "psrpc top · {} · {time} · {} · {} · every {:?} · sort: {} {arrow}",
        banner.scheme,
        count(app.services().len(), "service"),
        count(servers, "server"),
        banner.interval,
        app.sort.key.label(),
    );
    if let Some(error) = &app.error {
        line.push_str(&format!(" · refresh failed: {error}"));
    }
    line
}

/// `1 service`, `2 services`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("{n} {noun}") } else { format!("{n} {noun}s") }
}

/// `HH:MM:SS UTC`.
fn clock(at: SystemTime) -> String {
    let seconds = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs() % 86_400;
    format!("{:02}:{:02}:{:02} UTC", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

/// Figures as the last five columns.
fn figure_cells(f: &Figures) -> [Cell<'static>; 5] {
    [rate(f.calls), rate(f.errors), micros(f.p50_micros), micros(f.p99_micros), f.in_flight.to_string()]
        .map(|text| Cell::from(Line::from(text).right_aligned()))
}

/// A header row; the titles from `numbers_from` on are right-aligned over numbers.
fn titles(titles: &[&'static str], numbers_from: usize) -> Row<'static> {
    let cells = titles.iter().enumerate().map(|(i, title)| {
        let line = Line::from(*title);
        Cell::from(if i >= numbers_from { line.right_aligned() } else { line })
    });
    Row::new(cells).style(Style::new().add_modifier(Modifier::BOLD))
}

const NUMBER: Constraint = Constraint::Length(10);

fn services(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let rows = app.services().iter().map(|s| {
        let mut cells =
            vec![Cell::from(s.name.clone()), Cell::from(Line::from(s.servers.len().to_string()).right_aligned())];
        cells.extend(figure_cells(&s.figures));
        Row::new(cells)
    });
    let widths = [Constraint::Fill(1), NUMBER, NUMBER, NUMBER, NUMBER, NUMBER, NUMBER];
    let table = Table::new(rows, widths)
        .header(titles(&["SERVICE", "INSTANCES", "CALLS/S", "ERRORS/S", "P50", "P99", "IN-FLIGHT"], 1))
        .block(Block::bordered().title(" services "))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ");
    frame.render_stateful_widget(table, area, &mut TableState::default().with_selected(app.selected()));
}

fn detail(frame: &mut Frame<'_>, service: &ServiceRow, area: Rect) {
    // The instances get the room they need (borders and header: 3 lines), up to half the screen.
    let wanted = u16::try_from(service.servers.len() + 3).unwrap_or(u16::MAX);
    let [methods_area, servers_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(wanted.min(area.height / 2))]).areas(area);
    let methods = service.methods.iter().map(|m| {
        let mut cells = vec![Cell::from(m.name.clone()), Cell::from(m.kind.clone())];
        cells.extend(figure_cells(&m.figures));
        Row::new(cells)
    });
    let widths = [Constraint::Fill(1), Constraint::Length(22), NUMBER, NUMBER, NUMBER, NUMBER, NUMBER];
    let table = Table::new(methods, widths)
        .header(titles(&["METHOD", "KIND", "CALLS/S", "ERRORS/S", "P50", "P99", "IN-FLIGHT"], 2))
        .block(Block::bordered().title(format!(" {}: methods ", service.name)));
    frame.render_widget(table, methods_area);
    let servers = service.servers.iter().map(|s| {
        let state = if s.draining { "draining" } else { "serving" };
        let mut cells = vec![
            Cell::from(s.name.clone()),
            Cell::from(if s.version.is_empty() { "-".to_owned() } else { s.version.clone() }),
            Cell::from(state),
        ];
        cells.extend(figure_cells(&s.figures));
        Row::new(cells)
    });
    let widths =
        [Constraint::Fill(1), Constraint::Length(10), Constraint::Length(8), NUMBER, NUMBER, NUMBER, NUMBER, NUMBER];
    let table = Table::new(servers, widths)
        .header(titles(&["INSTANCE", "VERSION", "STATE", "CALLS/S", "ERRORS/S", "P50", "P99", "IN-FLIGHT"], 3))
        .block(Block::bordered().title(format!(" {}: instances ", service.name)));
    frame.render_widget(table, servers_area);
}

/// A rate per second, `-` while unknown.
fn rate(rate: Option<f64>) -> String {
    match rate {
        None => "-".to_owned(),
        Some(r) if r < 10.0 => format!("{r:.2}"),
        Some(r) if r < 1000.0 => format!("{r:.1}"),
        Some(r) => format!("{r:.0}"),
    }
}

/// A duration in microseconds, `-` when unknown (0).
fn micros(us: u64) -> String {
    match us {
        0 => "-".to_owned(),
        us if us < 1000 => format!("{us}µs"),
        us if us < 1_000_000 => format!("{:.1}ms", us as f64 / 1000.0),
        us => format!("{:.2}s", us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::top::rates::{MethodRow, ServerRow};

    fn screen(app: &App) -> String {
        let banner = Banner { scheme: "nats".into(), interval: Duration::from_secs(1) };
        let mut terminal = Terminal::new(TestBackend::new(120, 20)).expect("terminal");
        terminal.draw(|frame| draw(frame, app, &banner)).expect("draw");
        let buffer = terminal.backend().buffer();
        let mut text = String::new();
        for y in 0..buffer.area.height {
            for x in 0..buffer.area.width {
                text.push_str(buffer[(x, y)].symbol());
            }
            text.push('\n');
        }
        text
    }

    #[test]
    fn the_services_table_and_a_service_drilled_into() {
        let figures = Figures { calls: Some(12.5), errors: Some(0.0), p50_micros: 250, p99_micros: 1500, in_flight: 2 };
        let service = ServiceRow {
            name: "Greeter".into(),
            figures,
            methods: vec![MethodRow { name: "SayHello".into(), kind: "unary:queue".into(), figures }],
            servers: vec![ServerRow { name: "SRV_one".into(), version: "1.2".into(), draining: true, figures }],
        };
        let mut app = App::default();
        app.update(vec![service], SystemTime::UNIX_EPOCH + Duration::from_secs(3600 + 120 + 3));
        let overview = screen(&app);
        assert!(overview.contains("psrpc top · nats · 01:02:03 UTC · 1 service · 1 server"), "{overview}");
        let row = overview.lines().find(|l| l.contains("> Greeter")).expect(&overview);
        let row = row.replace('│', " ");
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells, [">", "Greeter", "1", "12.5", "0.00", "250µs", "1.5ms", "2"], "{overview}");
        assert!(!overview.contains("SayHello"), "{overview}");

        app.key(crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Enter));
        let detail = screen(&app);
        for expected in ["Greeter: methods", "SayHello", "unary:queue", "Greeter: instances", "SRV_one", "draining"] {
            assert!(detail.contains(expected), "{expected} in {detail}");
        }
        app.update(vec![], SystemTime::UNIX_EPOCH);
        assert!(screen(&app).contains("Greeter has no live server now"));
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(
            [rate(None), rate(Some(0.5)), rate(Some(99.94)), rate(Some(12345.6))],
            ["-", "0.50", "99.9", "12346"]
        );
        assert_eq!([micros(0), micros(999), micros(1500), micros(2_500_000)], ["-", "999µs", "1.5ms", "2.50s"]);
    }
}
