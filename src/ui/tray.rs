//! The tray icon: WoChat's icon with a red dot while messages are unread (the count in its
//! tooltip), a click shows the window, its menu has "Show WoChat" and "Quit WoChat".
//!
//! Linux and the BSDs: a StatusNotifierItem (KDE, GNOME with the AppIndicator extension, XFCE,
//! Cinnamon, ...), registered over D-Bus on a thread of its own so that a slow or hung session
//! bus never stalls the window; without a tray host there is no tray, and the window closes as
//! usual.
//! Windows and macOS: the notification area and the menu bar. The window keeps running hidden
//! while closed to the tray (eframe runs a hidden window's frames on every platform).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};

use super::i18n::tr;

/// What the tray asks of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayEvent {
    /// Show the window (the icon or "Show WoChat" was clicked).
    Show,
    /// Quit the app ("Quit WoChat").
    Quit,
}

/// A running tray icon.
pub struct Tray {
    backend: Backend,
    events: Receiver<TrayEvent>,
    /// A tray host shows the icon (false once it went away).
    shown: Arc<AtomicBool>,
    unread: u64,
}

impl std::fmt::Debug for Tray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tray").field("unread", &self.unread).finish_non_exhaustive()
    }
}

enum Backend {
    /// Being registered on another thread: what it becomes arrives here (`None`: no tray).
    Starting(Receiver<Option<Backend>>),
    /// The desktop has no tray.
    Absent,
    /// A stand-in that shows nothing (tests): what it was told is kept.
    Fake,
    #[cfg(all(unix, not(target_os = "macos")))]
    Sni(ksni::blocking::Handle<sni::SniTray>),
    #[cfg(any(windows, target_os = "macos"))]
    Native(native::NativeTray),
}

/// The icon's pixels, RGBA, and its side.
fn icon_rgba(unread: bool) -> (Vec<u8>, u32) {
    let image = image::load_from_memory(include_bytes!("../../assets/icons/wochat-64.png"))
        .map(|i| i.to_rgba8())
        .unwrap_or_else(|_| image::RgbaImage::new(64, 64));
    let side = image.width().min(image.height());
    let mut rgba = image.into_raw();
    if unread {
        // A red dot in the top right corner.
        let (r, cx, cy) = (side as f32 * 0.2, side as f32 * 0.76, side as f32 * 0.24);
        for y in 0..side {
            for x in 0..side {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                if dx * dx + dy * dy <= r * r {
                    let i = ((y * side + x) * 4) as usize;
                    rgba[i..i + 4].copy_from_slice(&[0xe5, 0x39, 0x35, 0xff]);
                }
            }
        }
    }
    (rgba, side)
}

/// The tooltip: the app, and what is unread.
fn tooltip(unread: u64) -> String {
    match unread {
        0 => "WoChat".to_string(),
        n => format!("WoChat: {}", super::i18n::tr_fill("{} unread", &[&n])),
    }
}

impl Tray {
    /// Shows the tray icon, if the desktop has a tray; `wake` repaints the window when the
    /// tray asks something of it (or, on Linux, once it is known whether there is a tray).
    /// Call on the window's thread, once its event loop runs; it does not wait for D-Bus.
    pub fn start(wake: Arc<dyn Fn() + Send + Sync>) -> Tray {
        let (tx, events) = channel();
        let shown = Arc::new(AtomicBool::new(true));
        let backend = start_backend(tx, wake, shown.clone());
        Tray { backend, events, shown, unread: 0 }
    }

    /// A tray that shows nothing, and the sender of its events (tests of the window).
    pub fn fake() -> (Tray, Sender<TrayEvent>) {
        let (tx, events) = channel();
        (Tray { backend: Backend::Fake, events, shown: Arc::new(AtomicBool::new(true)), unread: 0 }, tx)
    }

    /// A tray still being registered, its events' sender, and what ends the registration
    /// (tests of the window: a desktop whose tray answers late, or never).
    pub fn fake_starting() -> (Tray, Sender<TrayEvent>, FakeStart) {
        let (tx, events) = channel();
        let (done, started) = channel();
        let tray =
            Tray { backend: Backend::Starting(started), events, shown: Arc::new(AtomicBool::new(true)), unread: 0 };
        (tray, tx, FakeStart(done))
    }

    /// Takes in the end of a registration running on another thread.
    fn poll(&mut self) {
        if let Backend::Starting(started) = &self.backend {
            let backend = match started.try_recv() {
                Ok(Some(backend)) => backend,
                Ok(None) | Err(TryRecvError::Disconnected) => Backend::Absent,
                Err(TryRecvError::Empty) => return,
            };
            self.backend = backend;
            // What was said while it started.
            let unread = std::mem::take(&mut self.unread);
            self.set_unread(unread);
        }
    }

    /// Whether it is not known yet if a tray host shows the icon.
    pub fn starting(&mut self) -> bool {
        self.poll();
        matches!(self.backend, Backend::Starting(_))
    }

    /// Whether a tray host shows the icon (the window may be closed to it).
    pub fn shown(&self) -> bool {
        !matches!(self.backend, Backend::Starting(_) | Backend::Absent) && self.shown.load(Ordering::SeqCst)
    }

    /// The unread count the icon says.
    pub fn unread(&self) -> u64 {
        self.unread
    }

    /// Shows `unread` (a dot on the icon, the count in its tooltip).
    pub fn set_unread(&mut self, unread: u64) {
        self.poll();
        if unread == self.unread {
            return;
        }
        self.unread = unread;
        match &self.backend {
            Backend::Starting(_) | Backend::Absent | Backend::Fake => {}
            #[cfg(all(unix, not(target_os = "macos")))]
            Backend::Sni(handle) => {
                let tip = tooltip(unread);
                handle.update(|t| {
                    t.unread = unread;
                    t.tooltip = tip;
                });
            }
            #[cfg(any(windows, target_os = "macos"))]
            Backend::Native(t) => t.set_unread(unread),
        }
    }

    /// What the tray asked since the last call.
    pub fn events(&self) -> Vec<TrayEvent> {
        self.events.try_iter().collect()
    }
}

/// Ends the registration of a [`Tray::fake_starting`].
#[derive(Debug)]
pub struct FakeStart(Sender<Option<Backend>>);

impl FakeStart {
    /// A tray host shows the icon.
    pub fn shown(self) {
        let _ = self.0.send(Some(Backend::Fake));
    }

    /// There is no tray.
    pub fn absent(self) {
        let _ = self.0.send(None);
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
fn start_backend(tx: Sender<TrayEvent>, wake: Arc<dyn Fn() + Send + Sync>, shown: Arc<AtomicBool>) -> Backend {
    use ksni::blocking::TrayMethods;
    let (done, started) = channel();
    // Words are chosen here: the language is the window thread's.
    let tray = sni::SniTray {
        unread: 0,
        tooltip: tooltip(0),
        tx,
        wake: wake.clone(),
        shown,
        show: tr("Show WoChat").into(),
        quit: tr("Quit WoChat").into(),
    };
    let registered = std::thread::Builder::new().name("wochat-tray".into()).spawn(move || {
        // Without a tray host (no StatusNotifierWatcher) this fails: no tray, the window closes.
        let backend = match tray.assume_sni_available(false).spawn() {
            Ok(handle) => Some(Backend::Sni(handle)),
            Err(e) => {
                eprintln!("wochat: no tray icon ({e})");
                None
            }
        };
        let _ = done.send(backend);
        wake();
    });
    match registered {
        Ok(_) => Backend::Starting(started),
        Err(e) => {
            eprintln!("wochat: no tray icon ({e})");
            Backend::Absent
        }
    }
}

#[cfg(any(windows, target_os = "macos"))]
fn start_backend(tx: Sender<TrayEvent>, wake: Arc<dyn Fn() + Send + Sync>, shown: Arc<AtomicBool>) -> Backend {
    let _ = shown;
    // The notification area's icon belongs to the window's thread; creating it does not wait.
    match native::NativeTray::start(tx, wake) {
        Ok(t) => Backend::Native(t),
        Err(e) => {
            eprintln!("wochat: no tray icon ({e})");
            Backend::Absent
        }
    }
}

#[cfg(not(any(unix, windows)))]
fn start_backend(_: Sender<TrayEvent>, _: Arc<dyn Fn() + Send + Sync>, _: Arc<AtomicBool>) -> Backend {
    Backend::Absent
}

#[cfg(all(unix, not(target_os = "macos")))]
mod sni {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::Sender;

    use super::TrayEvent;

    /// The StatusNotifierItem.
    pub struct SniTray {
        pub unread: u64,
        /// What the tooltip says, in the window's language.
        pub tooltip: String,
        pub tx: Sender<TrayEvent>,
        pub wake: Arc<dyn Fn() + Send + Sync>,
        pub shown: Arc<AtomicBool>,
        pub show: String,
        pub quit: String,
    }

    impl SniTray {
        fn send(&self, e: TrayEvent) {
            let _ = self.tx.send(e);
            (self.wake)();
        }
    }

    impl ksni::Tray for SniTray {
        fn id(&self) -> String {
            "wochat".into()
        }

        fn title(&self) -> String {
            self.tooltip.clone()
        }

        fn category(&self) -> ksni::Category {
            ksni::Category::Communications
        }

        fn icon_pixmap(&self) -> Vec<ksni::Icon> {
            let (rgba, side) = super::icon_rgba(self.unread > 0);
            // ARGB32 in network byte order.
            let data = rgba.chunks_exact(4).flat_map(|p| [p[3], p[0], p[1], p[2]]).collect();
            vec![ksni::Icon { width: side as i32, height: side as i32, data }]
        }

        fn tool_tip(&self) -> ksni::ToolTip {
            ksni::ToolTip { title: self.tooltip.clone(), ..Default::default() }
        }

        fn activate(&mut self, _x: i32, _y: i32) {
            self.send(TrayEvent::Show);
        }

        fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
            use ksni::menu::{MenuItem, StandardItem};
            vec![
                StandardItem {
                    label: self.show.clone(),
                    activate: Box::new(|t: &mut Self| t.send(TrayEvent::Show)),
                    ..Default::default()
                }
                .into(),
                MenuItem::Separator,
                StandardItem {
                    label: self.quit.clone(),
                    activate: Box::new(|t: &mut Self| t.send(TrayEvent::Quit)),
                    ..Default::default()
                }
                .into(),
            ]
        }

        fn watcher_online(&self) {
            self.shown.store(true, Ordering::SeqCst);
        }

        fn watcher_offline(&self, _reason: ksni::OfflineReason) -> bool {
            // The host went away: the window must not be closed to a tray nobody shows.
            self.shown.store(false, Ordering::SeqCst);
            true
        }
    }
}

#[cfg(any(windows, target_os = "macos"))]
mod native {
    use std::sync::Arc;
    use std::sync::mpsc::Sender;

    use tray_icon::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
    use tray_icon::{Icon, MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};

    use super::{TrayEvent, tr};

    /// The notification area's (menu bar's) icon.
    pub struct NativeTray {
        icon: TrayIcon,
    }

    fn icon(unread: bool) -> Option<Icon> {
        let (rgba, side) = super::icon_rgba(unread);
        Icon::from_rgba(rgba, side, side).ok()
    }

    impl NativeTray {
        pub fn start(tx: Sender<TrayEvent>, wake: Arc<dyn Fn() + Send + Sync>) -> Result<Self, String> {
            let show = MenuItem::new(tr("Show WoChat"), true, None);
            let quit = MenuItem::new(tr("Quit WoChat"), true, None);
            let menu = Menu::new();
            menu.append_items(&[&show, &PredefinedMenuItem::separator(), &quit]).map_err(|e| e.to_string())?;
            let (show_id, quit_id) = (show.id().clone(), quit.id().clone());
            let (menu_tx, menu_wake) = (tx.clone(), wake.clone());
            MenuEvent::set_event_handler(Some(move |e: MenuEvent| {
                let event = if e.id == show_id {
                    TrayEvent::Show
                } else if e.id == quit_id {
                    TrayEvent::Quit
                } else {
                    return;
                };
                let _ = menu_tx.send(event);
                menu_wake();
            }));
            TrayIconEvent::set_event_handler(Some(move |e: TrayIconEvent| {
                if let TrayIconEvent::Click { button: MouseButton::Left, button_state: MouseButtonState::Up, .. } = e {
                    let _ = tx.send(TrayEvent::Show);
                    wake();
                }
            }));
            let mut builder = TrayIconBuilder::new().with_menu(Box::new(menu)).with_tooltip(super::tooltip(0));
            if let Some(i) = icon(false) {
                builder = builder.with_icon(i);
            }
            let icon = builder.build().map_err(|e| e.to_string())?;
            Ok(Self { icon })
        }

        pub fn set_unread(&self, unread: u64) {
            let _ = self.icon.set_icon(icon(unread > 0));
            let _ = self.icon.set_tooltip(Some(super::tooltip(unread)));
        }
    }
}
