//! The tray icon on Linux, against a tray host this test plays on a private session bus (a
//! `dbus-daemon` child): no host, no tray (closing the window must then close it); with one,
//! the icon registers, shows the unread count, and its click and menu reach the window.
#![cfg(all(feature = "gui", unix, not(target_os = "macos")))]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wochat::ui::tray::{Tray, TrayEvent};

/// A private session bus; killed when dropped.
struct Bus {
    child: Child,
    address: String,
}

impl Bus {
    fn start() -> Self {
        let mut child = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("dbus-daemon (package dbus) runs the test's session bus");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        Self { child, address: line.trim().to_string() }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The desktop's StatusNotifierWatcher (what a tray host provides), recording who registered.
struct Watcher {
    items: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(&self, service: &str) {
        self.items.lock().unwrap().push(service.to_string());
    }

    fn register_status_notifier_host(&self, _service: &str) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().unwrap().clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

/// A dbusmenu layout node: id, properties, children.
type MenuLayout = (i32, std::collections::HashMap<String, zbus::zvariant::OwnedValue>, Vec<zbus::zvariant::OwnedValue>);

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_tray_registers_with_the_host_and_its_click_and_menu_reach_the_window() {
    // The host runs on a runtime of its own; the tray is driven from this thread, as the
    // window's thread does (outside any runtime).
    let rt = tokio::runtime::Runtime::new().unwrap();
    // No tray host: no tray.
    let bare = Bus::start();
    // SAFETY: the only test of this binary; the tray reads the variable when it starts.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &bare.address) };
    let wakes = Arc::new(AtomicUsize::new(0));
    let w = wakes.clone();
    let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        w.fetch_add(1, Ordering::SeqCst);
    });
    // It is learnt on the tray's own thread (the window's never waits for D-Bus), which
    // repaints the window then.
    let mut none = Tray::start(wake.clone());
    wait_until("no tray host found", || !none.starting());
    assert!(!none.shown());
    assert!(wakes.load(Ordering::SeqCst) >= 1);
    drop(bare);

    // A tray host: the icon registers.
    let bus = Bus::start();
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &bus.address) };
    let items = Arc::new(Mutex::new(Vec::new()));
    let host = rt.block_on(async {
        zbus::connection::Builder::address(bus.address.as_str())
            .unwrap()
            .name("org.kde.StatusNotifierWatcher")
            .unwrap()
            .serve_at("/StatusNotifierWatcher", Watcher { items: items.clone() })
            .unwrap()
            .build()
            .await
            .unwrap()
    });
    let mut tray = Tray::start(wake);
    // What is said while it registers is shown once it has.
    tray.set_unread(2);
    wait_until("the icon registered", || !items.lock().unwrap().is_empty());
    wait_until("the tray started", || !tray.starting());
    assert!(tray.shown());
    let service = items.lock().unwrap()[0].clone();
    let title = || -> String {
        rt.block_on(async {
            let props = zbus::fdo::PropertiesProxy::builder(&host)
                .destination(service.clone())
                .unwrap()
                .path("/StatusNotifierItem")
                .unwrap()
                .build()
                .await
                .unwrap();
            let iface = zbus::names::InterfaceName::try_from("org.kde.StatusNotifierItem").unwrap();
            String::try_from(props.get(iface, "Title").await.unwrap()).unwrap()
        })
    };
    wait_until("the count said while it started", || title() == "WoChat: 2 unread");

    // The unread count shows.
    tray.set_unread(3);
    wait_until("the count", || title() == "WoChat: 3 unread");

    // A click on the icon shows the window; the menu's last item quits.
    rt.block_on(host.call_method(
        Some(service.as_str()),
        "/StatusNotifierItem",
        Some("org.kde.StatusNotifierItem"),
        "Activate",
        &(0i32, 0i32),
    ))
    .unwrap();
    wait_until("show", || tray.events().contains(&TrayEvent::Show));
    let layout = rt
        .block_on(host.call_method(
            Some(service.as_str()),
            "/MenuBar",
            Some("com.canonical.dbusmenu"),
            "GetLayout",
            &(0i32, -1i32, Vec::<String>::new()),
        ))
        .unwrap();
    let body = layout.body();
    let (_revision, (_, _, children)): (u32, MenuLayout) = body.deserialize().unwrap();
    let quit_id = {
        let last = children.last().unwrap().try_clone().unwrap();
        let s = zbus::zvariant::Structure::try_from(last).unwrap();
        i32::try_from(s.fields()[0].try_clone().unwrap()).unwrap()
    };
    rt.block_on(host.call_method(
        Some(service.as_str()),
        "/MenuBar",
        Some("com.canonical.dbusmenu"),
        "Event",
        &(quit_id, "clicked", zbus::zvariant::Value::from(0i32), 0u32),
    ))
    .unwrap();
    wait_until("quit", || tray.events().contains(&TrayEvent::Quit));
    assert!(wakes.load(Ordering::SeqCst) >= 4, "each event (and each start) repaints the window");
    assert!(tray.shown());
}
