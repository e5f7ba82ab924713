//! Which renderer draws the window. Some machines cannot run the first choice (a virtual
//! machine, a remote desktop, an old or broken GPU driver, Wine): the window then tries the
//! next, until one opens. `WOCHAT_RENDERER` or `ui.renderer` forces one.

use eframe::egui_wgpu::{WgpuConfiguration, WgpuSetup};
use eframe::wgpu;

/// A way to draw the window, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renderer {
    /// wgpu on the platform's primary backend (Vulkan, Metal or Direct3D 12).
    Wgpu,
    /// wgpu on Vulkan.
    Vulkan,
    /// wgpu on OpenGL (ES).
    Gl,
    /// eframe's glow renderer (OpenGL without wgpu).
    Glow,
}

/// Every renderer, first choice first.
pub const ORDER: [Renderer; 4] = [Renderer::Wgpu, Renderer::Vulkan, Renderer::Gl, Renderer::Glow];

impl Renderer {
    /// Its name in settings and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Wgpu => "wgpu",
            Self::Vulkan => "vulkan",
            Self::Gl => "gl",
            Self::Glow => "glow",
        }
    }

    /// What a person reads in Settings → About.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Wgpu => "wgpu (primary backend)",
            Self::Vulkan => "wgpu (Vulkan)",
            Self::Gl => "wgpu (OpenGL)",
            Self::Glow => "glow (OpenGL)",
        }
    }

    /// The renderer a setting names (`None` for `auto` or an unknown name).
    pub fn from_name(name: &str) -> Option<Self> {
        ORDER.into_iter().find(|r| r.name() == name.trim().to_ascii_lowercase())
    }

    /// `options` set up for this renderer; `broken`: as if its driver failed (a fault for tests:
    /// wgpu is given no backend at all, and finds no adapter).
    pub fn apply(self, options: &mut eframe::NativeOptions, broken: bool) {
        let backends = match self {
            Self::Glow => {
                options.renderer = eframe::Renderer::Glow;
                return;
            }
            _ if broken => wgpu::Backends::empty(),
            Self::Wgpu => wgpu::Backends::PRIMARY,
            Self::Vulkan => wgpu::Backends::VULKAN,
            Self::Gl => wgpu::Backends::GL,
        };
        options.renderer = eframe::Renderer::Wgpu;
        let mut config = WgpuConfiguration::default();
        if let WgpuSetup::CreateNew(setup) = &mut config.wgpu_setup {
            setup.instance_descriptor.backends = backends;
        }
        options.wgpu_options = config;
    }
}

/// The renderers to try: the forced one alone (`WOCHAT_RENDERER` first, then `setting`), or all
/// in [`ORDER`] for `auto`.
pub fn to_try(env: Option<&str>, setting: &str) -> Vec<Renderer> {
    let forced = env.filter(|e| !e.trim().is_empty()).unwrap_or(setting);
    match Renderer::from_name(forced) {
        Some(r) => vec![r],
        None => ORDER.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_tries_all_in_order_and_a_forced_one_alone() {
        assert_eq!(to_try(None, "auto"), ORDER);
        assert_eq!(to_try(Some(""), "auto"), ORDER);
        assert_eq!(to_try(None, "gl"), [Renderer::Gl]);
        assert_eq!(to_try(Some("Glow"), "gl"), [Renderer::Glow], "the environment wins");
        assert_eq!(to_try(Some("auto"), "gl"), ORDER);
        for name in &crate::config::RENDERERS[1..] {
            assert_eq!(Renderer::from_name(name).map(Renderer::name), Some(*name));
        }
        assert_eq!(Renderer::from_name("directx"), None);
    }
}
