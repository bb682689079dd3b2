#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Installs varco on this workstation: the binary, IT's approved-windows
    file, the enforcement service (LocalSystem, started at boot, restarted
    on failure) and the session agent at every logon.

.DESCRIPTION
    Run from an administrator PowerShell in the folder unpacked from
    varco-windows.zip:

        powershell -ExecutionPolicy Bypass -File .\install.ps1

    Safe to run again (upgrade or repair): an existing approved-windows.toml
    is never overwritten.

.PARAMETER Source
    Folder holding varco.exe and approved-windows.example.toml
    (default: this script's folder).
#>
param(
    [string]$Source = $PSScriptRoot
)
$ErrorActionPreference = 'Stop'

$exe = Join-Path $Source 'varco.exe'
$example = Join-Path $Source 'approved-windows.example.toml'
foreach ($f in @($exe, $example)) {
    if (-not (Test-Path $f)) { throw "missing $f - unpack the whole varco-windows.zip and run install.ps1 from that folder" }
}

# 1. The binary, in a folder only administrators can change (the
#    default permissions of Program Files): the service runs it as SYSTEM.
$dest = Join-Path $env:ProgramFiles 'varco'
New-Item -ItemType Directory -Force -Path $dest | Out-Null
if (Get-Service -Name varco -ErrorAction SilentlyContinue) {
    Stop-Service -Name varco -ErrorAction SilentlyContinue
}
# Agents of open sessions hold the old binary; they restart at next logon
# (and for this session, below).
Get-Process -Name varco -ErrorAction SilentlyContinue | Stop-Process -Force
Copy-Item $exe $dest -Force
Copy-Item $example $dest -Force
$varco = Join-Path $dest 'varco.exe'

# 2. Service, Event Log source, agent at logon (HKLM Run key), and IT's
#    folder %ProgramData%\varco: only SYSTEM and Administrators may change
#    it (the service refuses a windows file anyone else can write); when it
#    holds no approved-windows.toml, one that opens NO window is written, so
#    every remote tool is blocked until IT adds a window (the example's
#    windows are not copied: they would admit tools nobody agreed).
& $varco service install
if ($LASTEXITCODE -ne 0) { throw "varco service install failed (see above)" }
$data = Join-Path $env:ProgramData 'varco'
$file = Join-Path $data 'approved-windows.toml'
& icacls.exe $data

# 3. Check the windows file before the service relies on it.
& $varco check $file
if ($LASTEXITCODE -ne 0) {
    Write-Warning "the windows file has errors: the service will block every remote tool until it is fixed"
}

# 4. Start the service.
& $varco service start
if ($LASTEXITCODE -ne 0) { throw "varco service start failed (see above)" }

# 5. The agent for the session running this script (later logons start it
#    from the Run key).
Start-Process -FilePath $varco -ArgumentList 'agent' -WindowStyle Hidden
Start-Sleep -Seconds 2
& $varco agent --test

& $varco status
Write-Host "varco installed. Audit log: $data\audit.jsonl; Event Viewer: Windows Logs > Application, source varco."
