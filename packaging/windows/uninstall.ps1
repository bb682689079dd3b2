#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Removes varco: the service, the agent at logon, the Event Log source
    and the binary. Keeps %ProgramData%\varco (IT's approved-windows file
    and the audit log) unless -RemoveData is given.

.DESCRIPTION
        powershell -ExecutionPolicy Bypass -File .\uninstall.ps1
#>
param(
    [switch]$RemoveData
)
$ErrorActionPreference = 'Stop'

$dest = Join-Path $env:ProgramFiles 'varco'
$varco = Join-Path $dest 'varco.exe'
if (Test-Path $varco) {
    & $varco service uninstall
    if ($LASTEXITCODE -ne 0) { throw "varco service uninstall failed (see above)" }
} else {
    Write-Warning "$varco not found: removing what is left by hand"
    & sc.exe stop varco | Out-Null
    & sc.exe delete varco | Out-Null
    Remove-ItemProperty -Path 'HKLM:\Software\Microsoft\Windows\CurrentVersion\Run' -Name 'varco-agent' -ErrorAction SilentlyContinue
}
Get-Process -Name varco -ErrorAction SilentlyContinue | Stop-Process -Force
Remove-Item -Recurse -Force $dest -ErrorAction SilentlyContinue

$data = Join-Path $env:ProgramData 'varco'
if ($RemoveData) {
    Remove-Item -Recurse -Force $data
    Write-Host "removed $data"
} else {
    Write-Host "kept $data (approved-windows.toml and audit.jsonl); -RemoveData deletes it"
}
Write-Host "varco removed."
