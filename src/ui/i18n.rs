//! The UI's languages: English (the keys) and Simplified Chinese. `auto` follows the system
//! locale. A string missing from the catalogue shows in English.

use std::cell::Cell;

/// A UI language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Simplified Chinese.
    ZhCn,
}

thread_local! {
    // Per thread: the UI draws on one thread (and each headless test on its own).
    static CURRENT: Cell<Lang> = const { Cell::new(Lang::En) };
}

/// The language for a `ui.language` setting (`auto`, `en`, `zh-CN`); `auto` asks the system.
pub fn resolve(setting: &str) -> Lang {
    match setting {
        "zh-CN" => Lang::ZhCn,
        "en" => Lang::En,
        _ => match sys_locale::get_locale() {
            Some(l) if l.to_ascii_lowercase().starts_with("zh") => Lang::ZhCn,
            _ => Lang::En,
        },
    }
}

/// Switches the UI language of the calling (UI) thread; it takes effect on the next frame.
pub fn set(lang: Lang) {
    CURRENT.with(|c| c.set(lang));
}

/// The UI language of the calling thread.
pub fn current() -> Lang {
    CURRENT.with(Cell::get)
}

/// `english` in the current language.
pub fn tr(english: &'static str) -> &'static str {
    match current() {
        Lang::En => english,
        Lang::ZhCn => zh_cn(english).unwrap_or(english),
    }
}

/// The Simplified Chinese catalogue: (English, 简体中文).
const ZH_CN: &[(&str, &str)] = &[
    // Login
    ("Account", "账户"),
    ("Password", "密码"),
    ("Log in", "登录"),
    ("End-to-end encrypted chat", "端到端加密聊天"),
    ("Create account...", "创建账户…"),
    ("Create", "创建"),
    ("Back", "返回"),
    ("Name", "名字"),
    ("New password", "新密码"),
    ("Repeat the password", "再次输入密码"),
    ("choose a name", "请输入名字"),
    ("choose a password", "请输入密码"),
    ("the passwords differ", "两次输入的密码不一致"),
    ("weak: use at least 8 characters", "弱：至少使用 8 个字符"),
    ("strong", "强"),
    ("fair: longer is stronger", "中：越长越安全"),
    ("wrong password", "密码错误"),
    ("already open in another window", "该账户已在另一个窗口中打开"),
    ("open in another window", "已在另一个窗口中打开"),
    // Main window
    ("Copy address", "复制地址"),
    ("Copies your wochat: link", "复制你的 wochat: 链接"),
    ("QR code", "二维码"),
    ("Your address as a QR code", "你的地址二维码"),
    ("Settings", "设置"),
    ("connected", "已连接"),
    ("reconnecting", "正在重连"),
    ("offline", "离线"),
    ("Filter", "筛选"),
    ("Add friend...", "添加好友…"),
    ("Add friend", "添加好友"),
    ("Message requests", "消息请求"),
    (
        "{} older messages from strangers were dropped (limits for requests)",
        "已丢弃 {} 条较早的陌生人消息（消息请求的上限）",
    ),
    ("Chats", "聊天"),
    ("Accept", "接受"),
    ("Block", "屏蔽"),
    ("Unblock", "取消屏蔽"),
    ("Remove friend", "删除好友"),
    ("Profile...", "资料…"),
    ("(blocked)", "（已屏蔽）"),
    ("Pick a conversation, or add a friend (Ctrl+N).", "选择一个会话，或添加好友（Ctrl+N）。"),
    ("Today", "今天"),
    ("Yesterday", "昨天"),
    ("Message", "消息"),
    ("Send", "发送"),
    ("Address or wochat: link", "地址或 wochat: 链接"),
    ("Add", "添加"),
    ("that is your own address", "这是你自己的地址"),
    ("waiting to be sent", "等待发送"),
    ("sent to the broker", "已发送到服务器"),
    ("delivered", "已送达"),
    // Profile
    ("Profile", "资料"),
    ("Your address", "你的地址"),
    ("Save", "保存"),
    ("Copy link", "复制链接"),
    ("(too long for a QR code)", "（内容太长，无法生成二维码）"),
    // Settings
    ("Brokers (one URL per line)", "服务器（每行一个地址）"),
    ("User name", "用户名"),
    ("CA file for mqtts:// (empty: system)", "mqtts:// 的 CA 证书文件（留空：使用系统证书）"),
    ("Host a broker on this machine", "在本机运行服务器"),
    ("when none answers", "无可用服务器时"),
    ("always", "总是"),
    ("never", "从不"),
    ("Download files up to (MiB) without asking", "自动下载的文件大小上限（MiB）"),
    ("Largest file (MiB)", "最大文件（MiB）"),
    ("Storage quota (MiB, 0: none)", "存储配额（MiB，0 表示不限）"),
    ("Theme", "主题"),
    ("system", "跟随系统"),
    ("light", "浅色"),
    ("dark", "深色"),
    ("Language", "语言"),
    ("System language", "系统语言"),
    ("Cancel", "取消"),
    // Attachments
    ("Download", "下载"),
    ("transfer failed", "传输失败"),
    ("Retry", "重试"),
    ("Open", "打开"),
    ("Save...", "另存为…"),
    ("Picture", "图片"),
    ("Attach...", "附件…"),
    ("Send a file or a picture", "发送文件或图片"),
    // Search
    ("Search", "搜索"),
    ("Search in this chat", "在此聊天中搜索"),
    ("Searching...", "正在搜索…"),
    ("No messages found", "没有找到消息"),
    ("1 match", "找到 1 条消息"),
    ("{} matches", "找到 {} 条消息"),
    ("The newest {} matches", "最新的 {} 条匹配消息"),
    ("Import account...", "导入账户…"),
    // Errors of the core (templates: each {} is filled in order)
    ("the client has stopped", "客户端已停止"),
    ("cannot send a message to yourself", "不能给自己发消息"),
    ("the text is {} bytes; the limit is {}", "文本有 {} 字节，上限为 {}"),
    ("the file is {} MiB; the limit is {} MiB", "文件有 {} MiB，上限为 {} MiB"),
    ("cannot read {}: {}", "无法读取 {}：{}"),
    ("the storage quota of {} MiB would be exceeded", "将超出 {} MiB 的存储配额"),
    ("no such file", "没有这个文件"),
    ("the file is not stored here: {}", "文件不在本机：{}"),
    ("no such conversation", "没有这个会话"),
    ("this file is not waiting to be accepted", "这个文件不在等待接收"),
    ("there is nothing to retry for this file", "这个文件没有可以重试的传输"),
    ("database error: {}", "数据库错误：{}"),
    ("cannot seal a message: {}", "无法加密消息：{}"),
    ("broker settings: {}", "服务器设置：{}"),
    ("cannot store received messages: {}", "无法保存收到的消息：{}"),
    ("a file from {} was rejected: {}", "来自 {} 的文件被拒绝：{}"),
    ("cannot send a file: {}", "无法发送文件：{}"),
    ("no preview for a picture: {}", "图片没有预览：{}"),
    ("the file is larger than the limit ({} MiB)", "文件超过上限（{} MiB）"),
    ("a chunk of the file is wrong", "文件的一个分块有误"),
    ("the partial file is gone", "未完成的文件已丢失"),
    ("Import", "导入"),
    ("Password of the exported account", "导出账户的密码"),
    // Asked before it happens, said after
    ("Remove friend...", "删除好友…"),
    ("Remove {} from your friends?", "要把 {} 从好友中删除吗？"),
    (
        "The conversation and its history stay on this computer. New messages from them will arrive as message requests.",
        "对话及其历史记录会保留在这台电脑上。对方的新消息将作为消息请求送达。",
    ),
    ("Remove", "删除"),
    ("OK", "好"),
    ("Saved to {}", "已保存到 {}"),
    ("No file dialog is available here; saved to {}", "这里没有可用的文件对话框；已保存到 {}"),
    (
        "No program to open files is available here (xdg-open). The file is at {} until this window closes; use Save to keep it.",
        "这里没有可以打开文件的程序（xdg-open）。在此窗口关闭之前，文件位于 {}；如需保留，请使用“保存”。",
    ),
    ("Send a file", "发送文件"),
    ("Composer", "输入框"),
    ("Renderer (at the next start)", "渲染器（下次启动时生效）"),
    ("automatic (the first that works)", "自动（第一个可用的）"),
    ("About", "关于"),
    ("WoChat {}, drawn with {}", "WoChat {}，使用 {} 绘制"),
    ("Enter sends (Shift+Enter: new line)", "按 Enter 发送（Shift+Enter 换行）"),
    ("no private temporary folder", "无法创建私有的临时文件夹"),
    ("the pasted picture is malformed", "粘贴的图片已损坏"),
    (
        "No file dialog is available here (no desktop portal or zenity). Type the path of the file:",
        "这里没有可用的文件对话框（没有桌面门户或 zenity）。请输入文件的路径：",
    ),
    ("Path of the file", "文件路径"),
    ("Path of the export file", "导出文件的路径"),
    ("Use this file", "使用此文件"),
    ("{} is not a file", "{} 不是文件"),
    ("Send a picture", "发送图片"),
    ("Caption", "说明文字"),
    ("claims to be {}", "自称 {}"),
    (
        "This window uses {} (from --broker or WOCHAT_BROKER); the list below applies when WoChat starts without them.",
        "此窗口使用 {}（来自 --broker 或 WOCHAT_BROKER）；不带它们启动 WoChat 时才使用下面的列表。",
    ),
    ("Backup", "备份"),
    ("Backup...", "备份…"),
    (
        "A backup holds this account's key, its history and its files, encrypted under a passphrase. Restore it on any computer from the login window.",
        "备份包含此账户的密钥、聊天记录和文件，并用一个口令加密。可以在任何电脑的登录窗口中恢复。",
    ),
    ("I have written it down", "我已经记下了"),
    ("Folder", "文件夹"),
    ("Choose...", "选择…"),
    ("Back up automatically", "自动备份"),
    ("daily", "每天"),
    ("weekly", "每周"),
    ("Keep the newest", "保留最新的"),
    ("Last backup", "上次备份"),
    ("Choose a folder for automatic backups.", "请为自动备份选择一个文件夹。"),
    ("Back up now", "立即备份"),
    ("New passphrase", "新口令"),
    ("{} of {}", "{} / {}"),
    ("Written: {} ({})", "已写入：{}（{}）"),
    ("Your backup passphrase", "你的备份口令"),
    (
        "Write it down and keep it safe: no backup can be opened without it, and it is not shown again.",
        "请记下并妥善保管：没有它就无法打开任何备份，而且它不会再次显示。",
    ),
    ("Copy", "复制"),
    ("Copied.", "已复制。"),
    ("none yet", "还没有"),
    ("{}: failed ({})", "{}：失败（{}）"),
    ("Restore from backup...", "从备份恢复…"),
    ("Restore from backup", "从备份恢复"),
    ("Backup file", "备份文件"),
    ("Backup passphrase", "备份口令"),
    ("Replace the account here if it is the same one", "如果是同一个账户，替换这里的账户"),
    ("Restore", "恢复"),
    ("a backup is being written already", "已经在写入一个备份"),
    ("choose a folder for backups first", "请先选择备份文件夹"),
    ("Archived chats ({})", "已归档的聊天（{}）"),
    ("Pin to top", "置顶"),
    ("Unpin", "取消置顶"),
    ("Mute", "免打扰"),
    ("Unmute", "取消免打扰"),
    ("Archive", "归档"),
    ("Unarchive", "取消归档"),
    ("Mark as unread", "标为未读"),
    ("Draft: {}", "草稿：{}"),
    ("Newest", "最新"),
    ("First unread", "第一条未读"),
    ("Unread messages", "未读消息"),
    ("Notifications", "通知"),
    ("Show the message (off: only who wrote)", "显示消息内容（关闭：只显示发送者）"),
    ("New message", "新消息"),
    // Replies, reactions, edits, deletes, read receipts, typing
    ("The original message is not here", "原消息不在这里"),
    ("React", "回应"),
    ("Remove my reaction", "撤销我的回应"),
    ("Save attachment...", "保存附件..."),
    ("Edit", "编辑"),
    ("Delete for me", "为我删除"),
    ("Delete for everyone", "为所有人删除"),
    ("Reply", "回复"),
    ("You", "你"),
    ("This message was deleted", "此消息已删除"),
    ("edited", "已编辑"),
    ("The sender changed this message", "发送者修改了此消息"),
    ("read", "已读"),
    ("Replying to:", "回复："),
    ("Editing the message", "正在编辑消息"),
    ("typing...", "正在输入..."),
    ("Privacy", "隐私"),
    ("Read receipts (off: neither sent nor shown)", "已读回执（关闭时既不发送也不显示）"),
    ("the message is not in this conversation", "此会话中没有该消息"),
    ("only its sender can change a message", "只有发送者可以修改消息"),
    ("only text messages can be edited", "只能编辑文字消息"),
    ("a message can be edited for 24 hours", "消息只能在 24 小时内编辑"),
    ("a message can be edited 20 times", "消息最多编辑 20 次"),
    ("the message was deleted", "消息已被删除"),
    ("a reaction is one emoji", "回应只能是一个表情"),
    ("Go to chat", "转到聊天"),
    ("No chat has this name", "没有这个名字的聊天"),
    ("Forward to", "转发给"),
    ("Forward", "转发"),
    ("Forward...", "转发..."),
    ("Show WoChat", "显示 WoChat"),
    ("Quit WoChat", "退出 WoChat"),
    ("{} unread", "{} 条未读"),
    ("Window", "窗口"),
    ("Closing keeps WoChat in the tray (quit from its menu)", "关闭窗口时保留在托盘中（从托盘菜单退出）"),
    ("Start minimized", "启动时最小化"),
    ("Other:", "其他："),
    ("Message deleted", "消息已删除"),
    ("Earlier versions:", "之前的版本："),
    ("Typing indicators", "正在输入提示"),
    (
        "Restored. The backup's settings were not: this WoChat cannot read them ({})",
        "已恢复。备份中的设置未恢复：此版本的 WoChat 无法读取（{}）",
    ),
];

/// `template` in the current language with `{}` replaced by `n`.
pub fn tr_count(template: &'static str, n: usize) -> String {
    tr(template).replace("{}", &n.to_string())
}

/// `template` in the current language with each `{}` replaced by the next of `args`.
pub fn tr_fill(template: &'static str, args: &[&dyn std::fmt::Display]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut parts = tr(template).split("{}").peekable();
    while let Some(part) = parts.next() {
        out.push_str(part);
        if parts.peek().is_some() {
            match args.next() {
                Some(a) => out.push_str(&a.to_string()),
                None => out.push_str("{}"),
            }
        }
    }
    out
}

/// An error as the window shows it, in the current language.
pub fn error_text(e: &crate::ui::backend::UiError) -> String {
    match e {
        crate::ui::backend::UiError::Other(s) => tr_dynamic(s),
        crate::ui::backend::UiError::Client(e) => client_error_text(e),
    }
}

/// A client error in the current language (details from deeper layers stay as they are).
pub fn client_error_text(e: &crate::app::ClientError) -> String {
    use crate::app::{ClientError as E, FileProblem as P};
    use crate::objects::ObjectError;
    let object = |e: &ObjectError| match e {
        ObjectError::Quota { quota_mb, .. } => tr_fill("the storage quota of {} MiB would be exceeded", &[quota_mb]),
        ObjectError::Missing(_) => tr("no such file").to_string(),
        ObjectError::Io(io) => tr_fill("the file is not stored here: {}", &[io]),
    };
    match e {
        E::Stopped => tr("the client has stopped").into(),
        E::ToSelf => tr("cannot send a message to yourself").into(),
        E::TextTooLong { len, max } => tr_fill("the text is {} bytes; the limit is {}", &[len, max]),
        E::FileTooLarge { size_mib, max_mib } => {
            tr_fill("the file is {} MiB; the limit is {} MiB", &[size_mib, max_mib])
        }
        E::ReadFile { path, source } => tr_fill("cannot read {}: {}", &[&path.display(), source]),
        E::Object(o) => object(o),
        E::NoSuchChat(_) => tr("no such conversation").into(),
        E::NotWaiting(_) => tr("this file is not waiting to be accepted").into(),
        E::NothingToRetry(_) => tr("there is nothing to retry for this file").into(),
        E::BackupRunning => tr("a backup is being written already").into(),
        E::BackupFolderUnset => tr("choose a folder for backups first").into(),
        E::Store(s) => tr_fill("database error: {}", &[s]),
        E::Seal(s) => tr_fill("cannot seal a message: {}", &[s]),
        E::Transport(t) => tr_fill("broker settings: {}", &[t]),
        E::Receive(s) => tr_fill("cannot store received messages: {}", &[s]),
        E::FileRejected { from, reason, .. } => {
            let why = match reason {
                P::TooLarge(mib) => tr_fill("the file is larger than the limit ({} MiB)", &[mib]),
                P::WrongChunk(_) => tr("a chunk of the file is wrong").into(),
                P::Store(o) => object(o),
                P::PartialGone => tr("the partial file is gone").into(),
            };
            let short = format!("{}...", &from.to_hex()[..10]);
            tr_fill("a file from {} was rejected: {}", &[&short, &why])
        }
        E::FileUnreadable { source, .. } => tr_fill("cannot send a file: {}", &[&object(source)]),
        E::NoPreview { reason, .. } => tr_fill("no preview for a picture: {}", &[reason]),
        E::NoSuchMessage(_) => tr("the message is not in this conversation").into(),
        E::NotAllowed(why) => tr_dynamic(&why.to_string()),
    }
}

/// A preview the core wrote (English words, perhaps after an icon) in the current language.
pub fn tr_preview(preview: &str) -> String {
    match preview.split_once(' ') {
        Some((icon, words)) if !icon.chars().any(char::is_alphanumeric) => format!("{icon} {}", tr_dynamic(words)),
        _ => tr_dynamic(preview),
    }
}

/// A message made elsewhere (the core's errors are English) in the current language, when the
/// catalogue has it.
pub fn tr_dynamic(english: &str) -> String {
    match current() {
        Lang::En => english.to_string(),
        Lang::ZhCn => zh_cn(english).map_or_else(|| english.to_string(), str::to_string),
    }
}

fn zh_cn(s: &str) -> Option<&'static str> {
    static MAP: std::sync::OnceLock<std::collections::HashMap<&str, &str>> = std::sync::OnceLock::new();
    MAP.get_or_init(|| ZH_CN.iter().copied().collect()).get(s).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_settings_win_over_the_system_and_unknown_strings_stay_english() {
        assert_eq!(resolve("zh-CN"), Lang::ZhCn);
        assert_eq!(resolve("en"), Lang::En);
        assert_eq!(zh_cn("Log in"), Some("登录"));
        assert_eq!(zh_cn("not in the catalogue"), None);
    }

    /// The UI's sources, as (file name, text).
    fn ui_sources() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui");
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
        files.sort();
        files
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
            .collect()
    }

    /// The string literal that starts at `text[0]` (a `"`), unescaped as far as the catalogue
    /// needs (`\"`, `\\`, `\n` and a line continuation).
    fn literal(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text[1..].chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('\n') => {
                        while chars.peek().is_some_and(|c| c.is_whitespace()) {
                            chars.next();
                        }
                    }
                    Some(other) => out.push(other),
                    None => break,
                },
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn every_catalogue_key_used_by_the_window_has_chinese_text() {
        let mut missing = Vec::new();
        for (file, text) in ui_sources() {
            for call in ["tr(\"", "tr_count(\"", "tr_fill(\""] {
                for (at, _) in text.match_indices(call) {
                    let before = text[..at].chars().next_back();
                    if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        continue; // another function whose name ends the same way
                    }
                    let key = literal(&text[at + call.len() - 1..]);
                    if zh_cn(&key).is_none() {
                        missing.push(format!("{file}: {key:?}"));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "no Chinese text for:\n{}", missing.join("\n"));
    }

    #[test]
    fn no_visible_text_bypasses_the_catalogue() {
        // A literal handed straight to a widget would stay English in Chinese.
        let widgets = [
            ".label(\"",
            ".button(\"",
            ".small_button(\"",
            ".weak(\"",
            ".strong(\"",
            ".heading(\"",
            "hover_text(\"",
            "Window::new(\"",
        ];
        let mut found = Vec::new();
        for (file, text) in ui_sources() {
            for (n, line) in text.lines().enumerate() {
                for w in &widgets {
                    if let Some(at) = line.find(w) {
                        let key = literal(&line[at + w.len() - 1..]);
                        // Symbols (no letters) and acronyms ("GIF") need no translation.
                        if key.chars().any(|c| c.is_ascii_lowercase()) {
                            found.push(format!("{file}:{}: {}", n + 1, line.trim()));
                        }
                    }
                }
            }
        }
        assert!(found.is_empty(), "visible text outside the catalogue:\n{}", found.join("\n"));
    }

    #[test]
    fn every_chinese_string_has_glyphs_in_the_bundled_font() {
        // The characters kept in the subset (assets/fonts/characters.txt made it).
        let covered: std::collections::HashSet<char> =
            include_str!("../../assets/fonts/characters.txt").chars().collect();
        for (_, zh) in ZH_CN {
            for c in zh.chars().filter(|c| !c.is_ascii()) {
                assert!(covered.contains(&c), "{c:?} of {zh:?} is not in the bundled font");
            }
        }
    }
}
