//! The state of the dashboard and what each key does to it. Nothing here
//! draws or reads the terminal.

use std::time::SystemTime;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::rates::{ServiceRow, Sort, SortKey};

/// What the event loop does after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Draw again.
    Redraw,
    /// Restore the terminal and end.
    Quit,
}

/// The dashboard: the latest rows, the order, the selected service and
/// whether it is drilled into.
#[derive(Debug, Default)]
pub(crate) struct App {
    /// The order of every table.
    pub(crate) sort: Sort,
    /// The services, sorted.
    services: Vec<ServiceRow>,
    /// The selected service (by name, so that it stays selected when the order changes).
    selected: Option<String>,
    /// Whether the selected service's methods and instances are shown.
    pub(crate) drilled: bool,
    /// When the rows were refreshed.
    pub(crate) refreshed: Option<SystemTime>,
    /// Why the last refresh failed, if it did.
    pub(crate) error: Option<String>,
}

impl App {
    /// Takes the rows of a refresh made at `at`.
    pub(crate) fn update(&mut self, services: Vec<ServiceRow>, at: SystemTime) {
        self.services = services;
        self.refreshed = Some(at);
        self.error = None;
        self.resort();
    }

    /// Notes a failed refresh; the last rows stay.
    pub(crate) fn failed(&mut self, error: String) {
        self.error = Some(error);
    }

    /// The services, in order.
    pub(crate) fn services(&self) -> &[ServiceRow] {
        &self.services
    }

    /// The index of the selected service (the first when none was chosen, or it left).
    pub(crate) fn selected(&self) -> Option<usize> {
        let found = self.selected.as_ref().and_then(|name| self.services.iter().position(|s| s.name == *name));
        found.or((!self.services.is_empty()).then_some(0))
    }

    /// The drilled-into service: its name, and its row while it is on the bus.
    pub(crate) fn detail(&self) -> Option<(&str, Option<&ServiceRow>)> {
        if !self.drilled {
            return None;
        }
        let name = self.selected.as_deref()?;
        Some((name, self.services.iter().find(|s| s.name == name)))
    }

    /// Acts on a key press.
    pub(crate) fn key(&mut self, key: KeyEvent) -> Step {
        if key.kind != KeyEventKind::Press {
            return Step::Redraw;
        }
        match key.code {
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => return Step::Quit,
            KeyCode::Char('q') => return Step::Quit,
            KeyCode::Up | KeyCode::Char('k') if !self.drilled => self.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') if !self.drilled => self.move_by(1),
            KeyCode::Enter => {
                self.selected = self.selected().map(|i| self.services[i].name.clone());
                self.drilled = self.selected.is_some();
            }
            KeyCode::Esc | KeyCode::Backspace => self.drilled = false,
            KeyCode::Char('c') => self.sort_by(SortKey::Calls),
            KeyCode::Char('e') => self.sort_by(SortKey::Errors),
            KeyCode::Char('p') => self.sort_by(SortKey::P99),
            KeyCode::Char('n') => self.sort_by(SortKey::Name),
            KeyCode::Char('r') => {
                self.sort = self.sort.reversed();
                self.resort();
            }
            _ => {}
        }
        Step::Redraw
    }

    fn move_by(&mut self, delta: isize) {
        let Some(at) = self.selected() else { return };
        let last = self.services.len() - 1;
        let to = at.saturating_add_signed(delta).min(last);
        self.selected = Some(self.services[to].name.clone());
    }

    fn sort_by(&mut self, key: SortKey) {
        self.sort = self.sort.by(key);
        self.resort();
    }

    fn resort(&mut self) {
        self.sort.apply(&mut self.services);
        for service in &mut self.services {
            self.sort.apply(&mut service.methods);
            self.sort.apply(&mut service.servers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::rates::Figures;

    fn service(name: &str, calls: f64) -> ServiceRow {
        let figures = Figures { calls: Some(calls), ..Default::default() };
        ServiceRow { name: name.into(), figures, methods: vec![], servers: vec![] }
    }

    fn press(app: &mut App, code: KeyCode) -> Step {
        app.key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn names(app: &App) -> Vec<&str> {
        app.services().iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn keys_move_sort_drill_and_quit() {
        let mut app = App::default();
        app.update(vec![service("a", 1.0), service("b", 5.0), service("c", 3.0)], SystemTime::UNIX_EPOCH);
        assert_eq!(names(&app), ["b", "c", "a"], "busiest first");
        assert_eq!(app.selected(), Some(0));
        press(&mut app, KeyCode::Down);
        press(&mut app, KeyCode::Char('j'));
        press(&mut app, KeyCode::Char('j'));
        assert_eq!(app.selected(), Some(2), "stops at the last row");
        press(&mut app, KeyCode::Char('k'));
        assert_eq!(app.selected(), Some(1));
        press(&mut app, KeyCode::Char('n'));
        assert_eq!(names(&app), ["a", "b", "c"]);
        assert_eq!(app.selected(), Some(2), "the selection follows the service");
        press(&mut app, KeyCode::Char('n'));
        assert_eq!(names(&app), ["c", "b", "a"], "the same key again reverses");
        press(&mut app, KeyCode::Char('r'));
        assert_eq!(names(&app), ["a", "b", "c"]);
        assert_eq!(app.detail(), None);
        press(&mut app, KeyCode::Enter);
        assert_eq!(app.detail().map(|(name, row)| (name, row.is_some())), Some(("c", true)));
        press(&mut app, KeyCode::Up);
        assert_eq!(app.selected(), Some(2), "moving is for the services list");
        app.update(vec![service("a", 1.0)], SystemTime::UNIX_EPOCH);
        assert_eq!(app.detail().map(|(name, row)| (name, row.is_some())), Some(("c", false)), "c left the bus");
        press(&mut app, KeyCode::Esc);
        assert_eq!(app.detail(), None);
        assert_eq!(app.selected(), Some(0));
        press(&mut app, KeyCode::Enter);
        press(&mut app, KeyCode::Backspace);
        assert_eq!(app.detail(), None);
        assert_eq!(press(&mut app, KeyCode::Char('q')), Step::Quit);
        assert_eq!(app.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)), Step::Quit);
        assert_eq!(press(&mut app, KeyCode::Char('c')), Step::Redraw, "c alone sorts");
    }

    #[test]
    fn an_empty_bus_has_nothing_to_select() {
        let mut app = App::default();
        press(&mut app, KeyCode::Down);
        press(&mut app, KeyCode::Enter);
        assert_eq!((app.selected(), app.detail()), (None, None));
    }
}
