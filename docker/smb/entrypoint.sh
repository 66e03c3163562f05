#!/bin/sh
# entrypoint.sh INSTANCE (smb-guest | smb1 | smb-secure): what scanner/lab/services/smb.py does.
set -eu
INST=$1
CFG=${CFG:-/cfg}
export LAB=${LAB:-/lab}
export CONTENT=$LAB/content RUN=$LAB/smb/$INST ADDR=${SMB_INTERFACES:-eth0}
export INCLUDE=$RUN/common.conf
mkdir -p "$RUN"/private "$RUN"/lock "$RUN"/state "$RUN"/cache "$RUN"/pid "$RUN"/ncalrpc \
         "$RUN"/locked "$RUN"/staff "$RUN"/secure
chmod 700 "$RUN"/private
printf 'PK\003\004 not really a spreadsheet\n' > "$RUN"/locked/salaries_2020.xlsx
chmod 700 "$RUN"/locked
echo "staff share: for alice only" > "$RUN"/staff/handbook.txt
echo "secure share: for alice only" > "$RUN"/secure/handbook.txt
$CFG/render.sh $CFG/smb/common.conf "$RUN"/common.conf
$CFG/render.sh "$CFG/smb/$INST.conf" "$RUN"/smb.conf
printf 'Secret123!\nSecret123!\n' | smbpasswd -c "$RUN"/smb.conf -s -a alice >/dev/null
# alone in its container, smbd may keep (and signal) its own process group
exec smbd --foreground --debug-stdout --no-process-group -s "$RUN"/smb.conf
