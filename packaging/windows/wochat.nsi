; The WoChat installer for Windows (NSIS 3; scripts/package-windows runs makensis with
; /DVERSION=x.y.z /DEXE=path\to\wochat.exe /DOUTFILE=path\to\setup.exe).
; Installs for the current user (no administrator rights): the program in
; %LOCALAPPDATA%\Programs\WoChat, a Start menu and a desktop shortcut, and an entry in
; "Apps & features" with its uninstaller. Accounts and messages live in %APPDATA%\WoChat and
; are left alone by the uninstaller.

; A 64-bit installer for the 64-bit program (it also runs where 32-bit support is absent).
Target amd64-unicode
!ifdef FAST
SetCompressor zlib ; CI's check of a debug build: quick, not small
!else
SetCompressor /SOLID lzma
!endif
RequestExecutionLevel user

!include "MUI2.nsh"

Name "WoChat"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\WoChat"
InstallDirRegKey HKCU "Software\WoChat" "InstallDir"

VIProductVersion "${VERSION}.0"
VIAddVersionKey /LANG=1033 "ProductName" "WoChat"
VIAddVersionKey /LANG=1033 "FileDescription" "WoChat installer"
VIAddVersionKey /LANG=1033 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=1033 "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=1033 "LegalCopyright" "MIT OR Apache-2.0"

!define MUI_ICON "..\..\assets\icons\wochat.ico"
!define MUI_UNICON "..\..\assets\icons\wochat.ico"
!define MUI_FINISHPAGE_RUN "$INSTDIR\wochat.exe"

!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"
!insertmacro MUI_LANGUAGE "SimpChinese"

!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\WoChat"

Section "WoChat"
  SetOutPath "$INSTDIR"
  File "/oname=wochat.exe" "${EXE}"
  File "/oname=README.md" "..\..\README.md"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  CreateShortcut "$SMPROGRAMS\WoChat.lnk" "$INSTDIR\wochat.exe"
  CreateShortcut "$DESKTOP\WoChat.lnk" "$INSTDIR\wochat.exe"
  WriteRegStr HKCU "Software\WoChat" "InstallDir" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "WoChat"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "WoChat"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\wochat.exe"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
SectionEnd

Section "Uninstall"
  Delete "$INSTDIR\wochat.exe"
  Delete "$INSTDIR\README.md"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  Delete "$SMPROGRAMS\WoChat.lnk"
  Delete "$DESKTOP\WoChat.lnk"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
  DeleteRegKey HKCU "Software\WoChat"
SectionEnd
