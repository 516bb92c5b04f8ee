using Broker.Core.Configuration;

namespace Broker.Core.Hosting;

/// <summary>
/// The core's part of etc/broker.conf: node and broker-wide keys, <c>mqtt.*</c>, <c>session.*</c>, access control
/// (<c>allow_anonymous</c>, <c>acl_*</c>, <c>password_*</c>, <c>login_failure.*</c>) and <c>persistence*</c>. The options
/// classes behind it are the core's own (internal); a host fills them by handing the <c>*Section</c> objects to the
/// configuration binder, which reads their <c>[ConfKey]</c> attributes (so every error names file, line and key, and
/// <c>BROKER_*</c> variables apply), and then reads back only the few values below. <see cref="BrokerCore"/> is built
/// from it.
/// </summary>
/// <remarks>
/// Each section is an options object to bind, as <c>ConfBinder.TryBind(configuration, section)</c> binds any, and its
/// type is one to document (<c>broker conf-defaults</c>); nothing else of it is public. The core's tests reach the
/// options themselves through <see cref="Node"/>, <see cref="Mqtt"/>, <see cref="Session"/>, <see cref="Access"/> and
/// <see cref="Persistence"/>.
/// </remarks>
public sealed class CoreSettings
{
    /// <summary><c>node.name</c>'s default, which a node of a cluster must not keep.</summary>
    public const string DefaultNodeName = BrokerOptions.DefaultNodeName;

    internal BrokerOptions Node { get; } = new();

    internal MqttOptions Mqtt { get; } = new();

    internal SessionOptions Session { get; } = new();

    internal AccessControlOptions Access { get; } = new();

    internal PersistenceOptions Persistence { get; } = new();

    /// <summary>To bind: <c>node.name</c>, <c>broker.*</c>, <c>plugins.hook_timeout</c>, <c>overload_protection.*</c>.</summary>
    public object NodeSection => Node;

    /// <summary>To bind: <c>mqtt.*</c>.</summary>
    public object MqttSection => Mqtt;

    /// <summary>To bind: <c>session.*</c>.</summary>
    public object SessionSection => Session;

    /// <summary>To bind: <c>allow_anonymous</c>, <c>acl_*</c>, <c>enable_acl_cache</c>, <c>password_*</c>, <c>login_failure.*</c>.</summary>
    public object AccessSection => Access;

    /// <summary>To bind: <c>persistence</c>, <c>persistence.*</c>.</summary>
    public object PersistenceSection => Persistence;

    /// <summary><c>node.name</c>.</summary>
    public string NodeName => Node.NodeName;

    /// <summary>
    /// A node of a cluster needs a name of its own: one left at <see cref="DefaultNodeName"/> is named
    /// <c>broker@<paramref name="hostName"/></c>, as EMQX's <c>emqx@host</c>. A name the operator chose is kept.
    /// </summary>
    public void NameNodeAfterHostIfDefault(string hostName)
    {
        if (Node.NodeName == DefaultNodeName)
            Node.NodeName = "broker@" + hostName;
    }

    /// <summary><c>allow_anonymous</c>.</summary>
    public bool AllowAnonymous => Access.AllowAnonymous;

    /// <summary><c>password_file</c> as written (a relative path is the host's to resolve, against the etc directory).</summary>
    public string PasswordFile => Access.PasswordFile;

    /// <summary><c>acl_file</c> as written (a relative path is the host's to resolve, against the etc directory).</summary>
    public string AclFile => Access.AclFile;

    /// <summary><c>password_hash_iterations</c>: what <c>broker passwd</c> hashes new passwords with.</summary>
    public int PasswordHashIterations => Access.PasswordHashIterations;

    /// <summary><c>persistence = on</c>.</summary>
    public bool PersistenceEnabled => Persistence.Mode == PersistenceMode.On;

    /// <summary><c>persistence.dir</c> as written (a relative path is the host's to resolve, against the data directory).</summary>
    public string PersistenceDirectory => Persistence.Directory;

    /// <summary><c>persistence.sync</c> as an operator writes it (<c>periodic</c>, <c>sync</c>), for the start-up log.</summary>
    public string PersistenceSync => Persistence.Sync.ToString().ToLowerInvariant();
}
