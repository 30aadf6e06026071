"""Local faults: what the terminal or host meets on its own side, one row per fault.

Row format as in `_codes`: name, class A-E, likely cause, then (Chinese, English) pairs for
the meaning, the screen text, what the cashier tells the customer and what the operator
does next. `reverse=True` marks a fault that leaves a sent transaction in doubt or
unfinishable, so the terminal reverses it (reference §3.6 reasons 98 / A0 / 96 / 06).
"""

from __future__ import annotations

from functools import partial

from kassa.guide._model import Cause, GuideEntry, Outcome, make

_f = partial(make, "fault")

B = Outcome.RETRY
C = Outcome.DO_NOT_RETRY
D = Outcome.OPERATOR_ACTION
E = Outcome.SYSTEM_FAULT

HW = Cause.HARDWARE
SW = Cause.SOFTWARE
NET = Cause.NETWORK
INPUT = Cause.INPUT
SEC = Cause.SECURITY
MAINT = Cause.HOST_MAINTENANCE
THIRD = Cause.THIRD_PARTY

# Texts shared by several rows.
_NET_DOWN: tuple[str, str] = (
    "网络暂时不通，请稍候或改用其他方式付款",
    "The network is down for the moment; please wait or pay another way",
)
_NO_CARDS: tuple[str, str] = (
    "本机暂时不能刷卡，请改用其他方式付款",
    "This terminal cannot take cards right now; please pay another way",
)
_REVERSING: tuple[str, str] = (
    "交易未完成，系统正在自动撤销，不会扣款，请稍候",
    "The payment did not complete; it is being cancelled and you will not be charged",
)
_RECEIPT_LATER: tuple[str, str] = (
    "交易已成功，签购单稍后补打",
    "Your payment went through; the receipt will be printed in a moment",
)
_WAIT: tuple[str, str] = ("请稍候", "One moment please")
_SIGNING_ON: tuple[str, str] = (
    "系统正在重新登录，请稍候",
    "The terminal is logging in again; one moment please",
)
_NOTHING: tuple[str, str] = (
    "无需告知顾客，可以照常交易",
    "Nothing to tell; payments work as usual",
)

# fmt: off
FAULTS: tuple[GuideEntry, ...] = (
    # Network and host link
    _f("host_unreachable", B, NET,
       meaning=("终端连不上收单主机", "The terminal cannot reach the acquirer host"),
       screen=("连接主机失败", "Cannot connect to host"),
       cashier=_NET_DOWN,
       action=("检查网线、Wi-Fi或SIM信号和路由器；核对主机地址和端口；运行自检（kassa doctor）"
               "逐级检查ping、TCP、TLS；仍不通则切换备份主机并联系收单机构",
               "Check the cable, Wi-Fi or SIM signal and the router; check the host address "
               "and port; run kassa doctor (ping, TCP, TLS); if still down, switch to the "
               "backup host and call the acquirer")),
    _f("connect_refused", B, MAINT,
       meaning=("主机拒绝连接（主机服务未运行或端口不对）",
                "The host refused the connection (service down or wrong port)"),
       screen=("主机拒绝连接", "Host refused connection"),
       cashier=_NET_DOWN,
       action=("核对终端参数中的主机端口；端口无误则主机可能在维护，切换备份主机并联系收单机构",
               "Check the host port in the settings; if it is right the host may be under "
               "maintenance: switch to the backup host and call the acquirer")),
    _f("dns_failure", B, NET,
       meaning=("主机域名无法解析", "The host name cannot be resolved"),
       screen=("域名解析失败", "Host name lookup failed"),
       cashier=_NET_DOWN,
       action=("检查网络和DNS设置，核对主机域名拼写；可暂时改用主机IP地址或备份主机",
               "Check the network and DNS settings and the host name's spelling; use the "
               "host's IP address or the backup host for now")),
    _f("tls_failure", B, SEC,
       meaning=("与主机的加密连接（TLS）建立失败", "The encrypted (TLS) link to the host failed"),
       screen=("安全连接失败", "Secure connection failed"),
       cashier=_NET_DOWN,
       action=("检查终端时钟（时钟不准会导致证书校验失败）和主机证书、CA证书是否过期；"
               "不要关闭证书校验；联系收单机构或技术支持",
               "Check the terminal clock (a wrong clock fails certificate checks) and whether "
               "the host or CA certificate expired; never turn certificate checks off; call "
               "the acquirer or support")),
    _f("firewall_suspected", B, SEC,
       meaning=("连接被无声丢弃，怀疑防火墙拦截", "Connections are dropped silently; a firewall "
                "is probably blocking them"),
       screen=("网络受阻，请检查防火墙", "Network blocked, check firewall"),
       cashier=_NET_DOWN,
       action=("能ping通但TCP连接超时即属此情况：请网络管理员放行到主机地址和端口的出站连接；"
               "期间切换备份主机",
               "If ping works but the TCP connect times out, this is it: ask the network "
               "admin to allow outgoing connections to the host address and port; use the "
               "backup host meanwhile")),
    _f("response_timeout", B, NET, reverse=True,
       meaning=("请求已发出，但在时限内没收到主机应答，结果未知",
                "The request was sent but no answer came in time; the outcome is unknown"),
       screen=("交易超时，正在冲正", "Timed out, reversing"),
       cashier=_REVERSING,
       action=("等终端自动冲正（原因码98）完成后再重做交易，之前不要重复刷卡；"
               "冲正一直发不出去时检查网络",
               "Wait until the automatic reversal (reason 98) is done, then redo the sale; do "
               "not swipe again before; if the reversal cannot be sent, check the network")),
    _f("bad_response_mac", B, SEC, reverse=True,
       meaning=("收到应答但MAC校验失败，应答不可信",
                "An answer came but its MAC is wrong, so it cannot be trusted"),
       screen=("MAC校验错，正在冲正", "MAC error, reversing"),
       cashier=_REVERSING,
       action=("终端自动冲正（原因码A0）；重新签到更新密钥后重做交易；反复出现联系收单机构",
               "The terminal reverses (reason A0); sign on again to refresh the keys and redo "
               "the sale; if it repeats, call the acquirer")),
    _f("malformed_response", B, SW, reverse=True,
       meaning=("收到的应答报文无法解析", "The answer from the host cannot be decoded"),
       screen=("应答报文错误，正在冲正", "Bad response, reversing"),
       cashier=_REVERSING,
       action=("终端自动冲正（原因码98）后重做交易；反复出现时记下时间和凭证号，联系技术支持",
               "The terminal reverses (reason 98), then redo the sale; if it repeats, note "
               "the time and trace number and call support")),
    _f("backup_host_in_use", D, NET,
       meaning=("主用主机不可用，已切换到备份主机",
                "The primary host is unavailable; the backup host is in use"),
       screen=("已切换备份主机", "Using backup host"),
       cashier=("请稍候，交易正在处理", "One moment, your payment is being processed"),
       action=("交易照常进行；检查主用主机线路，恢复后终端自动切回；报告技术支持",
               "Carry on; check the link to the primary host (the terminal switches back when "
               "it recovers) and report it to support")),
    # Printer: the sale completes, the receipt waits in the queue
    _f("printer_no_paper", D, HW,
       meaning=("打印机缺纸", "The printer is out of paper"),
       screen=("打印机缺纸", "Printer out of paper"),
       cashier=_RECEIPT_LATER,
       action=("装入新纸卷（热敏面朝向打印头）；待打的签购单会自动补打，交易不要重做",
               "Load a new roll (thermal side to the print head); waiting receipts print by "
               "themselves; do not redo the sale")),
    _f("printer_not_connected", D, HW,
       meaning=("打印机未连接或无响应", "The printer is not connected or does not answer"),
       screen=("打印机未连接", "Printer not connected"),
       cashier=_RECEIPT_LATER,
       action=("检查打印机电源和数据线（或蓝牙、网络连接）后重连；签购单会自动补打，交易不要重做",
               "Check the printer's power and cable (or Bluetooth/network) and reconnect; "
               "receipts print by themselves; do not redo the sale")),
    _f("printer_wrong_model", D, HW,
       meaning=("连接的打印机型号与设置不符", "The printer attached is not the model set up"),
       screen=("打印机型号不符", "Wrong printer model"),
       cashier=_RECEIPT_LATER,
       action=("换上设置中指定型号的打印机，或在终端设置中改为实际型号；签购单会自动补打",
               "Attach the model in the settings, or set the model actually attached; "
               "receipts then print by themselves")),
    _f("printer_cover_open", D, HW,
       meaning=("打印机纸仓盖没有合上", "The printer's paper cover is open"),
       screen=("打印机盖未关", "Printer cover open"),
       cashier=_RECEIPT_LATER,
       action=("合上纸仓盖，直到听到卡扣声；签购单会自动补打",
               "Close the cover until it clicks; receipts then print by themselves")),
    # Storage and journal
    _f("disk_full", E, HW, reverse=True,
       meaning=("存储空间已满，交易流水写不进去", "Storage is full; the journal cannot be written"),
       screen=("存储空间已满", "Storage full"),
       cashier=_NO_CARDS,
       action=("停止收款；先结算并备份，再按保留策略清理已结算的旧数据；"
               "已批准但保存失败的交易终端会自动冲正（原因码96）",
               "Stop taking payments; settle and back up, then purge old settled data under "
               "the retention policy; an approved sale that could not be saved is reversed "
               "(reason 96)")),
    _f("storage_failure", E, HW, reverse=True,
       meaning=("存储设备读写出错", "The storage device failed a read or write"),
       screen=("存储故障", "Storage fault"),
       cashier=_NO_CARDS,
       action=("停止收款，不要断电；已批准但保存失败的交易终端会自动冲正（原因码96）；"
               "联系技术支持检修，必要时从备份恢复",
               "Stop taking payments and keep the power on; an approved sale that could not "
               "be saved is reversed (reason 96); call support, restore from backup if needed")),
    _f("backup_remote_failed", D, NET,
       meaning=("备份的异地副本未能复制（本地备份完好）",
                "The remote copy of a backup failed; the local backup is fine"),
       screen=("异地备份未完成", "Remote backup copy failed"),
       cashier=_NOTHING,
       action=("检查共享目录是否挂载、备份服务器和网络是否正常；恢复后运行"
               " kassa backup retry-remote 补传",
               "Check that the share is mounted, or the backup server and the network; "
               "then run kassa backup retry-remote to send what is missing")),
    _f("journal_corrupt", E, HW,
       meaning=("交易流水完整性校验失败，记录可能损坏",
                "The journal failed its integrity check; records may be damaged"),
       screen=("流水记录异常", "Journal damaged"),
       cashier=_NO_CARDS,
       action=("停止收款，不要结算；联系技术支持从最近的备份恢复，并与主机对账",
               "Stop taking payments and do not settle; call support to restore the latest "
               "backup and reconcile with the host")),
    # Keys, sign-on and clock
    _f("keys_missing", D, SEC,
       meaning=("终端没有主密钥或工作密钥", "The terminal has no master key or working keys"),
       screen=("无密钥，请下载主密钥", "No keys, load the master key"),
       cashier=_NO_CARDS,
       action=("联系收单机构为终端灌注主密钥，然后签到",
               "Ask the acquirer to load the terminal master key, then sign on")),
    _f("key_check_failed", D, SEC, resign_on=True,
       meaning=("签到下发的工作密钥校验值不符，密钥不能使用",
                "The working keys from sign-on fail their check values and cannot be used"),
       screen=("下载工作密钥失败，请确认主密钥", "Key download failed, check master key"),
       cashier=_SIGNING_ON,
       action=("重新签到；仍失败说明主密钥与主机不一致，联系收单机构重新灌注主密钥",
               "Sign on again; if it fails again the master key does not match the host's: "
               "ask the acquirer to load it again")),
    _f("keys_stale", B, SEC, resign_on=True,
       meaning=("工作密钥已失效（MAC连续出错或使用过久）",
                "The working keys are stale (repeated MAC errors or too old)"),
       screen=("密钥失效，请重新签到", "Keys stale, please sign on"),
       cashier=_SIGNING_ON,
       action=("终端自动重新签到并补发未送出的交易；自动签到失败时手工签到",
               "The terminal signs on again and sends what was left unsent; sign on by hand "
               "if that fails")),
    _f("not_signed_on", D, SW, resign_on=True,
       meaning=("终端未签到或已签退，不能做联机交易",
                "The terminal is not signed on (or signed off) and cannot go online"),
       screen=("请先签到", "Please sign on first"),
       cashier=_SIGNING_ON,
       action=("签到后再交易（终端会先自动签到）",
               "Sign on, then transact (the terminal tries to sign on by itself first)")),
    _f("sign_on_failed", D, NET,
       meaning=("签到没有成功（主机无应答或拒绝）", "Sign-on failed (no answer or refused)"),
       screen=("签到失败", "Sign-on failed"),
       cashier=_NO_CARDS,
       action=("检查网络后重新签到；主机拒绝时按显示的应答码处理（如97终端未登记、A0密钥错）",
               "Check the network and sign on again; if the host refused, follow the code "
               "shown (97 terminal not registered, A0 key error...)")),
    _f("clock_skew", D, SW,
       meaning=("终端时钟与主机时间相差过大", "The terminal clock is far from the host's time"),
       screen=("终端时间不准", "Terminal clock is wrong"),
       cashier=_WAIT,
       action=("重新签到同步主机时间，或检查NTP设置；反复走时不准说明时钟电池老化，请报修",
               "Sign on again to take the host's time, or check NTP; if it keeps drifting, "
               "the clock battery needs replacing")),
    _f("tamper_detected", E, SEC,
       meaning=("终端检测到被拆开或篡改，密钥已清除",
                "The terminal detected tampering and erased its keys"),
       screen=("终端被篡改，已锁定", "Tamper detected, locked"),
       cashier=_NO_CARDS,
       action=("立即停用，不要自行拆修；联系收单机构更换设备并上报",
               "Stop using it and do not open it; call the acquirer to replace and report it")),
    # Operators
    _f("operator_locked", D, SEC,
       meaning=("操作员密码连续输错，账号已锁定", "The operator is locked after repeated wrong "
                "passwords"),
       screen=("操作员已锁定", "Operator locked"),
       cashier=("请稍候，换一位收银员为您办理", "One moment, another cashier will help you"),
       action=("请主管用主管账号和动态口令解锁，或换其他操作员登录",
               "A supervisor unlocks it with their account and one-time code, or log in as "
               "another operator")),
    _f("password_expired", D, SEC,
       meaning=("操作员密码已到期，需要修改", "The operator password has expired"),
       screen=("密码已过期，请修改", "Password expired, change it"),
       cashier=_WAIT,
       action=("按提示设置符合密码规则的新密码（不能与旧密码相同）后登录",
               "Set a new password that meets the rules (not an old one) and log in")),
    _f("wrong_password", B, INPUT,
       meaning=("操作员密码错误", "Wrong operator password"),
       screen=("密码错误", "Wrong password"),
       cashier=_WAIT,
       action=("核对操作员号和密码后重新输入；连续输错会锁定账号",
               "Check the operator number and password and try again; repeated failures lock "
               "the account")),
    _f("otp_invalid", B, INPUT,
       meaning=("主管动态口令错误或已过期", "The supervisor's one-time code is wrong or expired"),
       screen=("动态口令错误", "Invalid one-time code"),
       cashier=_WAIT,
       action=("等新口令出现后重新输入；一直失败时检查口令器或手机的时间是否准确",
               "Wait for the next code and enter it; if it keeps failing, check the time on "
               "the authenticator or phone")),
    # Batch, offline queue, reversals, settlement
    _f("batch_full", D, SW,
       meaning=("本批次交易笔数已达上限", "The batch holds its maximum number of transactions"),
       screen=("交易已满，请先结算", "Batch full, please settle"),
       cashier=("请稍候，系统正在结算", "One moment, we are closing the batch"),
       action=("先做结算，结算完成后继续交易", "Settle now, then carry on")),
    _f("saf_full", D, SW,
       meaning=("离线待上送交易已满，不能再做离线交易",
                "The store-and-forward queue is full; no more offline sales"),
       screen=("离线交易已满，请联机上送", "Offline queue full, go online"),
       cashier=("这笔需要联机处理，请稍候或改用其他方式付款",
                "This payment must go online; please wait or pay another way"),
       action=("恢复网络，让终端上送离线交易后再继续；不能联机时改收其他方式付款",
               "Restore the network so the terminal uploads its offline sales; until then "
               "take other ways to pay")),
    _f("saf_cap_reached", D, SEC,
       meaning=("离线交易累计金额已达风控上限", "Offline sales have reached their risk cap"),
       screen=("离线限额已满", "Offline limit reached"),
       cashier=("这笔需要联机处理，请稍候或改用其他方式付款",
                "This payment must go online; please wait or pay another way"),
       action=("恢复联机后再交易；不要拆单绕过限额",
               "Go online before more sales; never split a sale to get round the cap")),
    _f("offline_declined_later", C, THIRD,
       meaning=("离线受理的交易上送后被发卡方拒绝",
                "An offline sale was declined by the issuer when uploaded"),
       screen=("离线交易上送被拒", "Offline sale declined on upload"),
       cashier=("您之前的一笔付款银行未予承兑，请另行支付",
                "An earlier payment of yours was declined by your bank; please pay it another "
                "way"),
       action=("在控制台记录该笔交易，联系顾客另行收款或与收单机构协商；保留签购单作为凭证",
               "Record it in the console and contact the customer to pay another way, or take "
               "it up with the acquirer; keep the receipt as evidence")),
    _f("reversal_pending", B, NET, reverse=True,
       meaning=("有冲正尚未发送成功，下一笔交易前会先发送",
                "A reversal is waiting; it goes out before the next transaction"),
       screen=("正在冲正，请稍候", "Reversing, please wait"),
       cashier=("系统正在撤销上一笔未完成的交易，请稍候",
                "The system is cancelling an unfinished earlier payment; one moment please"),
       action=("等冲正完成后再交易；冲正一直发不出去时检查网络",
               "Wait for the reversal to finish; if it cannot be sent, check the network")),
    _f("reversal_failed", D, NET, reverse=True,
       meaning=("冲正多次发送仍未成功", "The reversal got no answer after several tries"),
       screen=("冲正不成功，请与客服联系", "Reversal failed, call support"),
       cashier=("上一笔交易正在核实，如已扣款会退回，请保留凭证",
                "The earlier payment is being checked; any charge will be returned, please "
                "keep your receipt"),
       action=("记下卡号后四位、金额和凭证号，联系收单机构客服核实；终端保留冲正记录并继续重发",
               "Note the card's last 4 digits, amount and trace number and call the "
               "acquirer's help desk; the terminal keeps the reversal and keeps trying")),
    _f("power_loss_recovered", B, HW, reverse=True,
       meaning=("交易中途断电，终端重启后已自动恢复",
                "Power was lost mid-transaction; the terminal recovered on restart"),
       screen=("断电恢复，正在处理未完成交易", "Recovered from power loss"),
       cashier=("上一笔交易中断了，系统正在自动处理，不会重复扣款",
                "The last payment was interrupted; the system is sorting it out and you will "
                "not pay twice"),
       action=("等终端冲正或补发未完成的交易；查流水确认上一笔结果后再决定是否重做",
               "Let the terminal reverse or finish the interrupted transaction; check its "
               "result in the journal before redoing it")),
    _f("settlement_unbalanced", D, SW,
       meaning=("结算对账不平：终端与主机总额不一致",
                "Settlement totals differ between terminal and host"),
       screen=("对账不平，正在上送明细", "Totals differ, uploading details"),
       cashier=_WAIT,
       action=("等终端批上送明细完成；在控制台查看差异，逐笔核对并按流程补登",
               "Let the terminal finish the batch upload; review the differences in the "
               "console and correct each with a supplementary entry")),
    _f("settlement_interrupted", B, NET,
       meaning=("结算中途网络或电源中断", "Settlement was interrupted by the network or power"),
       screen=("结算中断，请重新结算", "Settlement interrupted, settle again"),
       cashier=_WAIT,
       action=("恢复网络或电源后重新结算，终端会从中断处继续，不会重复结算",
               "Restore the network or power and settle again; it resumes where it stopped "
               "and never settles twice")),
    # Card, PIN pad, amount
    _f("card_read_error", B, HW,
       meaning=("读卡失败（磁条或芯片读不出）", "The card could not be read (stripe or chip)"),
       screen=("读卡失败，请重试", "Card read failed, try again"),
       cashier=("请重新刷卡或插卡", "Please swipe or insert your card again"),
       action=("请顾客重新插卡或刷卡（方向正确、匀速刷卡）；多张卡都读不出时清洁读卡器或报修",
               "Try again (right way round, steady swipe); if several cards fail, clean the "
               "reader or report it")),
    _f("card_expired_local", C, INPUT,
       meaning=("终端检查发现卡片已过有效期", "The terminal found the card past its expiry date"),
       screen=("卡片已过期", "Card expired"),
       cashier=("此卡已过期，请换一张卡", "This card has expired; please use another card"),
       action=("请顾客换卡；手输时核对有效期（月/年）是否输错",
               "Ask for another card; if keyed, check the expiry (month/year) was entered "
               "right")),
    _f("ic_declined_after_approval", C, THIRD, reverse=True,
       meaning=("主机已批准，但芯片卡拒绝完成交易",
                "The host approved but the chip card refused to complete"),
       screen=("卡片拒绝，正在冲正", "Card declined, reversing"),
       cashier=("卡片拒绝了这笔交易，系统正在自动撤销，不会扣款",
                "Your card refused this payment; it is being cancelled and you will not be "
                "charged"),
       action=("终端自动冲正（原因码06）；请顾客换卡或改用其他支付方式",
               "The terminal reverses (reason 06); ask for another card or another way to "
               "pay")),
    _f("pin_pad_error", D, HW,
       meaning=("密码键盘无响应或故障", "The PIN pad does not answer or is faulty"),
       screen=("密码键盘故障", "PIN pad fault"),
       cashier=("请稍候，我们检查一下设备", "One moment while we check the device"),
       action=("检查密码键盘连接线后重启；仍故障请停用报修；绝不让顾客说出密码",
               "Check the PIN pad cable and restart it; if still faulty stop using it and "
               "report it; never let a customer tell you the PIN")),
    _f("amount_invalid", B, INPUT,
       meaning=("输入的金额无效（为零、超限或格式错）",
                "The amount entered is invalid (zero, over the limit or malformed)"),
       screen=("金额无效，请重新输入", "Invalid amount, enter again"),
       cashier=("金额输入有误，我们重新输入",
                "The amount was entered wrong; we will enter it again"),
       action=("以元为单位重新输入，最多两位小数，不超过单笔限额",
               "Enter it again in yuan, at most two decimals, within the limit")),
    # Software, power, risk
    _f("update_rejected", D, SEC,
       meaning=("软件更新包校验未通过，已拒绝安装",
                "The update package failed its signature check and was not installed"),
       screen=("更新包校验失败", "Update rejected"),
       cashier=_NOTHING,
       action=("继续使用当前版本；从官方渠道重新获取更新包，仍失败联系技术支持",
               "Keep the current version; get the package again from the official source and "
               "call support if it fails again")),
    _f("update_rolled_back", D, SW,
       meaning=("新版本启动自检失败，已回退到原版本",
                "The new version failed its start-up check and was rolled back"),
       screen=("更新失败，已恢复原版本", "Update failed, rolled back"),
       cashier=_NOTHING,
       action=("照常使用当前版本；记下版本号，联系技术支持",
               "Carry on with the current version; note the version number and call support")),
    _f("low_battery", D, HW,
       meaning=("终端电量低", "The terminal battery is low"),
       screen=("电量低，请充电", "Battery low, please charge"),
       cashier=_WAIT,
       action=("立即接通电源充电；电量很低时不要开始交易或结算，以免中途断电",
               "Plug it in now; do not start a sale or settlement on a very low battery")),
    _f("risk_held", D, SEC,
       meaning=("风控规则命中，交易暂挂等待人工审核",
                "A risk rule flagged the transaction; it is held for review"),
       screen=("交易待审核", "Held for review"),
       cashier=("这笔交易需要核实，请稍候", "This payment needs a check; one moment please"),
       action=("请主管在控制台审核：核对持卡人和卡片后放行或拒绝；不要向顾客透露风控规则",
               "A supervisor reviews it in the console: check the cardholder and card, then "
               "release or decline; never reveal the risk rules")),
    _f("risk_declined", C, SEC,
       meaning=("风控规则判定为可疑交易，已拒绝", "Declined by the risk rules as suspicious"),
       screen=("交易被拒绝", "Declined"),
       cashier=("交易未成功，请改用其他方式付款",
                "The payment was not accepted; please pay another way"),
       action=("不要重复尝试或拆分金额；认为误判时请主管在控制台查看告警",
               "Do not retry or split the amount; if it looks wrong, a supervisor checks the "
               "alert in the console")),
)
# fmt: on
