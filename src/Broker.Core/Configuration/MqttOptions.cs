using Broker.Abstractions;
using Broker.Abstractions.Configuration;

namespace Broker.Core.Configuration;

/// <summary>Protocol limits and capabilities announced to clients (<c>mqtt.*</c> in etc/broker.conf).</summary>
internal sealed class MqttOptions : IValidatableOptions
{
    /// <remarks>Default 1MB.</remarks>
    [ConfKey("mqtt.max_packet_size", "Largest MQTT packet accepted, fixed header included. A bigger packet closes the connection (MQTT 5: DISCONNECT 0x95). Announced to MQTT 5 clients as Maximum Packet Size.", Unit = ConfUnit.Bytes, Min = "16", Max = "268435460")]
    public long MaxPacketSize { get; set; } = 1024 * 1024;

    /// <remarks>Default 15s.</remarks>
    [ConfKey("mqtt.idle_timeout", "A connection that has not sent CONNECT within this time is closed.", Unit = ConfUnit.Duration)]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <remarks>
    /// Default 1s; 0 closes at once. Plain TCP (SocketPipe) and WebSocket (WebSocketPipe); not the ssl listener yet.
    /// Bounded by time and by 4MB dropped per connection; holds no thread. A lingering
    /// connection still counts towards its listener's max_connections, and a broker that stops waits for it (at most
    /// the listener's shutdown timeout, 5s).
    /// </remarks>
    [ConfKey("mqtt.close_linger", "When the broker closes a connection (DISCONNECT with a reason code, a refusing CONNACK, a kick, a takeover), it first lets the closing packet reach the client: it shuts down its sending side and reads and drops what the client still sends until the client closes, this time has passed or 4MB were dropped, and only then closes the socket. Closing at once would reset a client that is still writing, which then never reads why it was dropped. WebSocket: the broker's Close frame follows the closing packet and the client's frames are dropped until its Close frame answers, for at most this time. TLS (ssl listener): no half-close exists short of ending the TLS session, so what the client sends is read and dropped the same way before the connection is closed. 0 = close at once.", Unit = ConfUnit.Duration)]
    public TimeSpan CloseLinger { get; set; } = TimeSpan.FromSeconds(1);

    /// <remarks>Default 65535.</remarks>
    [ConfKey("mqtt.max_clientid_len", "Longest client id accepted (CONNACK 0x85 / 3.1.1 return code 2 beyond it).", Min = "23", Max = "65535")]
    public int MaxClientIdLength { get; set; } = 65535;

    /// <remarks>Default 128; 0 = unlimited.</remarks>
    [ConfKey("mqtt.max_topic_levels", "Most levels a topic name or filter may have; 0 = unlimited.", Min = "0", Max = "65535")]
    public int MaxTopicLevels { get; set; } = 128;

    /// <remarks>Default 2.</remarks>
    [ConfKey("mqtt.max_qos_allowed", "Highest QoS accepted from publishers and granted to subscribers (announced as Maximum QoS).", Min = "0", Max = "2")]
    public int MaxQosAllowed { get; set; } = 2;

    /// <remarks>Default 65535; 0 disables topic aliases from clients.</remarks>
    [ConfKey("mqtt.max_topic_alias", "Topic Alias Maximum announced to MQTT 5 clients: how many inbound topic aliases a client may set.", Min = "0", Max = "65535")]
    public int MaxTopicAlias { get; set; } = 65535;

    /// <remarks>Default true.</remarks>
    [ConfKey("mqtt.retain_available", "Whether retained messages are accepted (MQTT 5: Retain Available; a retained PUBLISH when off gets DISCONNECT 0x9A).")]
    public bool RetainAvailable { get; set; } = true;

    /// <remarks>Default true.</remarks>
    [ConfKey("mqtt.wildcard_subscription", "Whether topic filters with + and # are accepted (off: SUBACK 0xA2).")]
    public bool WildcardSubscription { get; set; } = true;

    /// <remarks>Default 10000; 0 = unlimited (EMQX's default).</remarks>
    [ConfKey("mqtt.max_subscriptions", "Most subscriptions one client may hold; a SUBSCRIBE for a new filter beyond it is refused with SUBACK 0x97 Quota exceeded (3.1.1: 0x80). Every subscription costs each matching message a delivery check, so one client with tens of thousands of overlapping filters would slow every publisher to it. 0 = unlimited.", Min = "0")]
    public int MaxSubscriptions { get; set; } = 10000;

    /// <remarks>Default true.</remarks>
    [ConfKey("mqtt.shared_subscription", "Whether $share/<group>/<filter> and $queue/<filter> subscriptions are accepted (off: SUBACK 0x9E).")]
    public bool SharedSubscription { get; set; } = true;

    /// <remarks>Default 0 (off).</remarks>
    [ConfKey("mqtt.server_keepalive", "When above 0, MQTT 5 clients are told to use this keep-alive (seconds) instead of their own (Server Keep Alive).", Min = "0", Max = "65535")]
    public int ServerKeepAlive { get; set; }

    /// <remarks>
    /// Default 0 (off). mosquitto 2's <c>max_keepalive</c> (mosquitto.conf(5)); the refusal of MQTT 3.x clients is
    /// mosquitto 2.0.12's ("Fix max_keepalive not applying to MQTT v3.1.1 and v3.1 connections"): 2.0.11 applies it
    /// to MQTT 5 clients only. <see cref="ServerKeepAlive"/>, when set, decides for MQTT 5 clients and must not exceed it.
    /// </remarks>
    [ConfKey("mqtt.max_keepalive", "When above 0, the longest keep-alive (seconds) a client may use, as mosquitto 2's max_keepalive: an MQTT 5 client that asks for 0 (none) or more is told this value as Server Keep Alive and held to it; an MQTT 3.1/3.1.1 client, which cannot be told, is refused with CONNACK return code 2 (identifier rejected), as mosquitto 2.0.12 and later do. For MQTT 5 clients mqtt.server_keepalive, when set, takes precedence and must not exceed this value.", Min = "0", Max = "65535")]
    public int MaxKeepAlive { get; set; }

    /// <inheritdoc/>
    public IEnumerable<(string Key, string Error)> Validate()
    {
        if (MaxKeepAlive > 0 && ServerKeepAlive > MaxKeepAlive)
            yield return ("mqtt.server_keepalive", $"{ServerKeepAlive} is above mqtt.max_keepalive ({MaxKeepAlive}): MQTT 5 clients would be told a keep-alive the broker does not allow");
    }
}

/// <summary>What a full offline/pending queue drops.</summary>
internal enum QueueOverflowPolicy
{
    /// <summary>Drop the oldest queued message to make room for the new one (EMQX's behaviour).</summary>
    DropOldest,
    /// <summary>Drop the new message.</summary>
    DropNewest,
}

/// <summary>Session limits (<c>session.*</c> in etc/broker.conf).</summary>
internal sealed class SessionOptions
{
    /// <remarks>Default 2h.</remarks>
    [ConfKey("session.expiry_interval", "How long the session of an MQTT 3.1/3.1.1 client with clean session 0 outlives its connection. MQTT 5 clients choose their own with Session Expiry Interval.", Unit = ConfUnit.Duration)]
    public TimeSpan ExpiryInterval { get; set; } = TimeSpan.FromHours(2);

    /// <remarks>Default 0 (no cap).</remarks>
    [ConfKey("session.max_expiry_interval", "Upper bound on the Session Expiry Interval an MQTT 5 client may ask for; 0 = no bound.", Unit = ConfUnit.Duration)]
    public TimeSpan MaxExpiryInterval { get; set; }

    /// <remarks>Default 32.</remarks>
    [ConfKey("session.max_inflight", "Outgoing QoS 1/2 messages sent but not yet acknowledged, per session (lowered to the client's MQTT 5 Receive Maximum).", Min = "1", Max = "65535")]
    public int MaxInflight { get; set; } = 32;

    /// <remarks>Default 1000.</remarks>
    [ConfKey("session.max_mqueue_len", "Messages queued per session while it is offline or its in-flight window is full; beyond it session.mqueue_overflow applies and the drop is counted in $SYS metrics/messages/dropped.", Min = "1", Max = "10000000")]
    public int MaxMqueueLength { get; set; } = 1000;

    /// <remarks>Default 16MB; 0 = no limit in bytes.</remarks>
    [ConfKey("session.max_mqueue_bytes", "Bytes (payload and topic) queued per session, besides session.max_mqueue_len: whichever is reached first applies session.mqueue_overflow, so a subscriber that stops reading cannot pin hundreds of MB of large messages. A single message larger than this is dropped (counted). 0 = no limit in bytes.", Unit = ConfUnit.Bytes, Min = "0")]
    public long MaxMqueueBytes { get; set; } = 16 * 1024 * 1024;

    /// <remarks>Default 1s; 0 turns publisher back-pressure off.</remarks>
    [ConfKey("session.backpressure_timeout", "Longest a publisher waits, after a message, while a connected subscriber it was just delivered to has its queue (or QoS 0 backlog) more than half full: fast publishers are slowed to what subscribers drain instead of overflowing their queues. Offline sessions and the publisher's own never make it wait. Each publisher adds at most one message past the half-full mark before it waits, so a session.max_mqueue_len of at least twice the number of publishers feeding one subscriber loses nothing to overflow while the subscriber keeps reading. 0 = never wait (a full queue then drops per session.mqueue_overflow).", Unit = ConfUnit.Duration)]
    public TimeSpan BackpressureTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <remarks>Default 2s.</remarks>
    [ConfKey("session.slow_subscriber_timeout", "A connected subscriber whose queue (or QoS 0 backlog) has stayed more than half full for this long is a slow subscriber: no publisher waits for it any more (session.backpressure_timeout), and session.slow_subscriber_policy applies until it has caught up. One subscriber that stops reading then cannot slow the publishers it shares with others.", Unit = ConfUnit.Duration, Min = "1ms")]
    public TimeSpan SlowSubscriberTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <remarks>Default drop.</remarks>
    [ConfKey("session.slow_subscriber_policy", "What happens to a slow subscriber: drop (its queue overflows per session.mqueue_overflow, counted per client as mqueue_dropped) or disconnect (MQTT 5: DISCONNECT 0x97 Quota exceeded).")]
    public SlowSubscriberPolicy SlowSubscriberPolicy { get; set; } = SlowSubscriberPolicy.Drop;

    /// <remarks>Default 10000.</remarks>
    [ConfKey("session.max_qos0_backlog", "QoS 0 messages waiting to be written to one connection that cannot keep up (they bypass the session queue); beyond it new QoS 0 messages for that connection are dropped and counted.", Min = "1", Max = "10000000")]
    public int MaxQos0Backlog { get; set; } = 10000;

    /// <remarks>Default 16MB; 0 = no limit in bytes.</remarks>
    [ConfKey("session.max_qos0_backlog_bytes", "Bytes (payload and topic) of QoS 0 messages waiting to be written to one connection, besides session.max_qos0_backlog: whichever is reached first drops new QoS 0 messages for that connection (counted), so a subscriber that stops reading cannot pin hundreds of MB of large QoS 0 messages. 0 = no limit in bytes.", Unit = ConfUnit.Bytes, Min = "0")]
    public long MaxQos0BacklogBytes { get; set; } = 16 * 1024 * 1024;

    /// <remarks>Default drop_oldest.</remarks>
    [ConfKey("session.mqueue_overflow", "What a full queue drops: drop_oldest or drop_newest.")]
    public QueueOverflowPolicy MqueueOverflow { get; set; } = QueueOverflowPolicy.DropOldest;

    /// <remarks>Default true.</remarks>
    [ConfKey("session.mqueue_store_qos0", "Whether QoS 0 messages are queued for offline persistent sessions.")]
    public bool MqueueStoreQos0 { get; set; } = true;

    /// <remarks>Default 100.</remarks>
    [ConfKey("session.max_awaiting_rel", "Incoming QoS 2 messages received (PUBREC sent) but not yet released by PUBREL, per session. Announced to MQTT 5 clients as Receive Maximum; exceeding it closes the connection (MQTT 5: 0x93).", Min = "1", Max = "65535")]
    public int MaxAwaitingRel { get; set; } = 100;

    /// <remarks>Default 300s.</remarks>
    [ConfKey("session.await_rel_timeout", "How long an incoming QoS 2 packet id waits for its PUBREL before it is forgotten.", Unit = ConfUnit.Duration)]
    public TimeSpan AwaitRelTimeout { get; set; } = TimeSpan.FromSeconds(300);

    /// <remarks>Default false.</remarks>
    [ConfKey("session.upgrade_qos", "Deliver at the subscription's QoS even when the message was published with a lower one.")]
    public bool UpgradeQos { get; set; }
}

/// <summary>What happens when no acl.conf rule (and no plugin) decides.</summary>
internal enum AclNoMatch
{
    /// <summary>Allow.</summary>
    Allow,
    /// <summary>Deny.</summary>
    Deny,
}

/// <summary>Built-in access control (top-level keys, as in EMQX 4).</summary>
internal sealed class AccessControlOptions
{
    /// <remarks>Default false.</remarks>
    [ConfKey("allow_anonymous", "Admit clients that no authentication source (the password file, a plugin) recognised. Off by default: add users with `broker passwd add`.")]
    public bool AllowAnonymous { get; set; }

    /// <remarks>Default allow.</remarks>
    [ConfKey("acl_nomatch", "Decision for a publish/subscribe that no acl.conf rule and no plugin decides: allow or deny.")]
    public AclNoMatch AclNoMatch { get; set; } = AclNoMatch.Allow;

    /// <remarks>Default true.</remarks>
    [ConfKey("enable_acl_cache", "Keep each connection's recent publish and delivery authorization decisions (EMQX's ACL cache), so acl.conf and authorization plugins' backends are asked once per topic and acl_cache_ttl, not per message. Any change of the rules (acl reload, a plugin loaded or unloaded) empties every cache; `ctl acl cache clean` does so by hand.")]
    public bool EnableAclCache { get; set; } = true;

    /// <remarks>Default 32.</remarks>
    [ConfKey("acl_cache_max_size", "Decisions kept per connection.", Min = "1", Max = "1024")]
    public int AclCacheMaxSize { get; set; } = 32;

    /// <remarks>Default 1m.</remarks>
    [ConfKey("acl_cache_ttl", "How long a cached decision is used.", Unit = ConfUnit.Duration, Min = "1ms")]
    public TimeSpan AclCacheTtl { get; set; } = TimeSpan.FromMinutes(1);

    /// <remarks>Default acl.conf, in the etc directory.</remarks>
    [ConfKey("acl_file", "The access rules file (EMQX 4 acl.conf syntax); the broker does not start if it is missing. A relative path is relative to the etc directory.")]
    public string AclFile { get; set; } = "acl.conf";

    /// <remarks>Default passwd, in the etc directory.</remarks>
    [ConfKey("password_file", "The password file (salted PBKDF2-SHA512 hashes; manage it with `broker passwd`); a missing file has no users. A relative path is relative to the etc directory.")]
    public string PasswordFile { get; set; } = "passwd";

    /// <remarks>Default <see cref="AccessControl.PasswordFile.DefaultIterations"/>, chosen by measurement (bench/README.md).</remarks>
    [ConfKey("password_hash_iterations", "PBKDF2-SHA512 iterations of passwords set from now on (`broker passwd add`); each line of the password file keeps its own count, so changing this re-hashes nobody until their password is next set. Each first login of a user after a start (and each new wrong password) costs one hash: the default keeps a reconnect storm of a whole fleet above 2,000 logins/s on two cores (bench/README.md); raise it if your devices reconnect slowly and your password file could leak.", Min = "1", Max = "10000000")]
    public int PasswordHashIterations { get; set; } = AccessControl.PasswordFile.DefaultIterations;

    /// <remarks>Default 0 (half the cores).</remarks>
    [ConfKey("password_hash_concurrency", "Threads computing password hashes, apart from the connections' threads; logins wait their turn beyond it, so a flood of wrong passwords costs at most this many cores. 0 = half the cores (at least 1).", Min = "0", Max = "1024")]
    public int PasswordHashConcurrency { get; set; }

    /// <remarks>Default 1m.</remarks>
    [ConfKey("login_failure.window", "Failed logins (wrong password, unknown user, refused by an authentication plugin) are counted per peer address and per user name over this window.", Unit = ConfUnit.Duration, Min = "1s")]
    public TimeSpan LoginFailureWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <remarks>Default 5.</remarks>
    [ConfKey("login_failure.delay_after", "After this many failed logins within login_failure.window from one address or for one user name, each further login from it is held before it is checked: 100 ms, doubling with each failure, up to login_failure.max_delay. 0 = never held.", Min = "0")]
    public int LoginFailureDelayAfter { get; set; } = 5;

    /// <remarks>Default 5s.</remarks>
    [ConfKey("login_failure.max_delay", "Longest a login is held by login_failure.delay_after (keep it below mqtt.idle_timeout).", Unit = ConfUnit.Duration, Min = "1ms")]
    public TimeSpan LoginFailureMaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <remarks>Default 30.</remarks>
    [ConfKey("login_failure.ban_after", "After this many failed logins within login_failure.window, the address (or the user name) is put on the banned list for login_failure.ban_time: its connections are refused (MQTT 5: CONNACK 0x8A Banned; 3.1.1: return code 5) before any password is checked. Remove a ban early with `ctl banned del`. A ban by user name also locks out its rightful owner for that time. 0 = never banned.", Min = "0")]
    public int LoginFailureBanAfter { get; set; } = 30;

    /// <remarks>Default 5m.</remarks>
    [ConfKey("login_failure.ban_time", "How long login_failure.ban_after bans an address or a user name.", Unit = ConfUnit.Duration, Min = "1s")]
    public TimeSpan LoginFailureBanTime { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>What becomes of a slow subscriber (<c>session.slow_subscriber_policy</c>).</summary>
internal enum SlowSubscriberPolicy
{
    /// <summary>Publishers stop waiting for it; what its queue cannot hold is dropped and counted.</summary>
    Drop,
    /// <summary>Its connection is closed (MQTT 5: DISCONNECT 0x97 Quota exceeded); a persistent session keeps its queue.</summary>
    Disconnect,
}

/// <summary>Node-wide settings (<c>node.*</c>, <c>broker.*</c>, <c>plugins.*</c>, <c>overload_protection.*</c>).</summary>
internal sealed class BrokerOptions : IValidatableOptions
{
    /// <summary>node.name's default.</summary>
    public const string DefaultNodeName = "broker@127.0.0.1";

    /// <remarks>Default broker@127.0.0.1; with cluster.enable = on, broker@&lt;host name&gt; when left at that.</remarks>
    [ConfKey("node.name", "This node's name, as it appears in $SYS topics and to the other nodes of a cluster, where it must be unique. Left at the default with cluster.enable = on, it is broker@<host name>.")]
    public string NodeName { get; set; } = DefaultNodeName;

    /// <remarks>Default 1m.</remarks>
    [ConfKey("broker.sys_interval", "How often $SYS/brokers/<node>/... topics are published; 0 = never.", Unit = ConfUnit.Duration)]
    public TimeSpan SysInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <remarks>Default random.</remarks>
    [ConfKey("broker.shared_subscription_strategy", "How a message for a share group picks its member: random, round_robin, sticky, hash_clientid or hash_topic. In a cluster, a member on the node the message was published on gets it first; otherwise the nodes with members take turns, and the chosen one picks among its members this way.")]
    public SharedStrategy SharedSubscriptionStrategy { get; set; } = SharedStrategy.Random;

    /// <remarks>Default 5s.</remarks>
    [ConfKey("plugins.hook_timeout", "A hook callback that has not completed in this time is treated as failed (authentication/authorization: deny).", Unit = ConfUnit.Duration)]
    public TimeSpan HookTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <remarks>Default 1GB; 0 = no broker-wide watermark.</remarks>
    [ConfKey("overload_protection.high_watermark", "Bytes (payload and topic) the whole broker may hold for its clients (session queues and QoS 0 backlogs, each bounded by session.max_mqueue_bytes and session.max_qos0_backlog_bytes) before it is overloaded: it then refuses new connections (MQTT 5: CONNACK 0x89 Server busy; MQTT 3.x: closed), slows the publishers feeding its largest queues, and raises the alarm high_memory_usage (management API /alarms, ctl alarms list, $SYS/brokers/<node>/alarms/activate). 0 = no broker-wide limit.", Unit = ConfUnit.Bytes, Min = "0")]
    public long OverloadHighWatermark { get; set; } = 1024L * 1024 * 1024;

    /// <remarks>Default 768MB.</remarks>
    [ConfKey("overload_protection.low_watermark", "Once overloaded, the broker is so until what it holds for clients falls to this many bytes; then the alarm is cleared ($SYS/brokers/<node>/alarms/deactivate) and connections are accepted again. At most overload_protection.high_watermark.", Unit = ConfUnit.Bytes, Min = "0")]
    public long OverloadLowWatermark { get; set; } = 768L * 1024 * 1024;

    /// <remarks>Default 1s.</remarks>
    [ConfKey("overload_protection.check_interval", "How often the broker adds up what it holds for clients against the watermarks (a walk over the sessions, nothing per message).", Unit = ConfUnit.Duration, Min = "10ms")]
    public TimeSpan OverloadCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <inheritdoc/>
    public IEnumerable<(string Key, string Error)> Validate()
    {
        if (OverloadHighWatermark > 0 && OverloadLowWatermark > OverloadHighWatermark)
            yield return ("overload_protection.low_watermark", $"must be at most overload_protection.high_watermark ({OverloadHighWatermark} bytes)");
    }
}

/// <summary>Shared subscription dispatch strategies (<c>broker.shared_subscription_strategy</c>; the router has its own).</summary>
internal enum SharedStrategy
{
    /// <summary>A member at random.</summary>
    Random,
    /// <summary>Each member in turn.</summary>
    RoundRobin,
    /// <summary>The same member until it leaves or disconnects.</summary>
    Sticky,
    /// <summary>By a hash of the publisher's client id (<c>hash_clientid</c>, EMQX's spelling).</summary>
    HashClientid,
    /// <summary>By a hash of the topic.</summary>
    HashTopic,
}
