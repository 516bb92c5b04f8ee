using System.Text.RegularExpressions;

namespace Broker.Cluster;

/// <summary>How NATS' certificate is checked (<c>cluster.nats.tls.verify</c>).</summary>
internal enum NatsVerify
{
    /// <summary>The server's certificate must chain to cluster.nats.tls.cacertfile (or the system's CAs) and name the host.</summary>
    VerifyPeer,

    /// <summary>Any certificate is accepted (test set-ups only).</summary>
    VerifyNone,
}

/// <summary>etc/broker.conf <c>cluster.*</c>: this node as one of several over NATS (issue 24, first part).</summary>
/// <remarks>
/// Defaults: off; name <c>broker</c>; servers <c>nats://127.0.0.1:4222</c>; no credentials; TLS off; heartbeat 250ms;
/// node timeout 1s; forward queue 100000 messages; owner registry replicas 3.
/// </remarks>
internal sealed partial class ClusterOptions : IValidatableOptions
{
    [ConfKey("cluster.enable", "on = this node joins the cluster cluster.name over the NATS servers of cluster.nats.servers: it announces itself and its routes there, learns the other nodes' and forwards each PUBLISH once to every other node with a matching subscriber. Every node needs a unique node.name. off = a single node; nothing below is used.")]
    public bool Enable { get; set; }

    [ConfKey("cluster.name", "The cluster's name: nodes with the same name over the same NATS servers form one cluster. Letters, digits, '-' and '_'; it prefixes every NATS subject the cluster uses.")]
    public string Name { get; set; } = "broker";

    [ConfKey("cluster.nats.servers", "The NATS servers, comma-separated (nats://host:port, or tls://host:port); the node connects to the first it can reach, in this order (list its nearest first), and moves to another when that one fails.", Example = "nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222")]
    public string Servers { get; set; } = "nats://127.0.0.1:4222";

    [ConfKey("cluster.nats.username", "User name for NATS (with cluster.nats.password); empty = none.")]
    public string Username { get; set; } = "";

    [ConfKey("cluster.nats.password", "Password for cluster.nats.username.")]
    public string Password { get; set; } = "";

    [ConfKey("cluster.nats.token", "Token for NATS (instead of user name and password); empty = none.")]
    public string Token { get; set; } = "";

    [ConfKey("cluster.nats.tls", "on = TLS to NATS (as tls:// servers do).")]
    public bool Tls { get; set; }

    [ConfKey("cluster.nats.tls.cacertfile", "PEM file of the CA NATS' certificate chains to; empty = the system's CAs.", Example = "certs/nats-ca.pem")]
    public string CaCertFile { get; set; } = "";

    [ConfKey("cluster.nats.tls.certfile", "PEM certificate this node presents to NATS (with cluster.nats.tls.keyfile); empty = none.", Example = "certs/node.pem")]
    public string CertFile { get; set; } = "";

    [ConfKey("cluster.nats.tls.keyfile", "PEM private key of cluster.nats.tls.certfile.", Example = "certs/node.key")]
    public string KeyFile { get; set; } = "";

    [ConfKey("cluster.nats.tls.verify", "verify_peer = NATS' certificate must be valid for its host name; verify_none = anything is accepted (tests only).")]
    public NatsVerify Verify { get; set; } = NatsVerify.VerifyPeer;

    [ConfKey("cluster.heartbeat_interval", "How often this node announces itself (name, start time, connections, route version) to the others.", Unit = ConfUnit.Duration, Min = "10ms", Max = "10s")]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    [ConfKey("cluster.node_timeout", "A node not heard from in this time is down: its routes are withdrawn and nothing is forwarded to it until it is heard again. Also how long, at most, a node that has just started or joined holds CONNECTs until it has read the cluster's banned list.", Unit = ConfUnit.Duration, Min = "50ms", Max = "1m")]
    public TimeSpan NodeTimeout { get; set; } = TimeSpan.FromSeconds(1);

    [ConfKey("cluster.max_forward_queue", "Forwards held per other node until it acknowledges them. Past a tenth of this, publishers whose messages go to that node wait before reading more (back-pressure) until it is down to a twentieth; beyond this, new QoS 0 messages for it are dropped and counted (forward_dropped in GET /api/v5/nodes); QoS 1/2 ones are never dropped.", Min = "1", Max = "100000000")]
    public int MaxForwardQueue { get; set; } = 100_000;

    [ConfKey("cluster.owner_replicas", "Copies NATS JetStream keeps of the client-id owner registry (the key-value bucket <cluster.name>-owners that makes each client id one node's): 3 survives the loss of one of three NATS servers; with fewer NATS servers than this, 1 is used (logged). Every NATS server needs JetStream (-js, or a jetstream {} block).", Min = "1", Max = "5")]
    public int OwnerReplicas { get; set; } = 3;

    /// <summary>The servers as NATS.Net takes them: one comma-separated string.</summary>
    public IReadOnlyList<string> ServerList =>
        [.. Servers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    /// <summary>A copy with another <see cref="Enable"/> and <see cref="Servers"/> (<c>ctl cluster join</c>); the rest as configured.</summary>
    public ClusterOptions With(bool enable, string servers)
    {
        var copy = (ClusterOptions)MemberwiseClone();
        copy.Enable = enable;
        copy.Servers = servers;
        return copy;
    }

    /// <summary>Servers as logs and answers show them: a user name and password in a URL (<c>nats://u:p@host</c>) hidden.</summary>
    public static string Redact(string servers) => CredentialsPattern().Replace(servers, "://***@");

    /// <inheritdoc/>
    public IEnumerable<(string Key, string Error)> Validate()
    {
        if (!NamePattern().IsMatch(Name))
            yield return ("cluster.name", $"'{Name}' is not letters, digits, '-' and '_'");
        var servers = ServerList;
        if (servers.Count == 0)
            yield return ("cluster.nats.servers", "no server given");
        foreach (var server in servers)
        {
            if (!Uri.TryCreate(server, UriKind.Absolute, out var uri) || uri.Scheme is not ("nats" or "tls") || uri.Host.Length == 0
                || uri.IsDefaultPort && !server.Contains("://" + uri.Host + ":", StringComparison.Ordinal) && uri.Port < 0)
                yield return ("cluster.nats.servers", $"'{server}' is not nats://host:port or tls://host:port");
        }
        if (Token.Length > 0 && Username.Length > 0)
            yield return ("cluster.nats.token", "give either a token or cluster.nats.username and password, not both");
        if (Password.Length > 0 && Username.Length == 0)
            yield return ("cluster.nats.username", "cluster.nats.password is set without a user name");
        if (CertFile.Trim().Length == 0 != (KeyFile.Trim().Length == 0))
            yield return ("cluster.nats.tls.keyfile", "cluster.nats.tls.certfile and keyfile are set together");
    }

    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("://[^@/,]*@")]
    private static partial Regex CredentialsPattern();
}
