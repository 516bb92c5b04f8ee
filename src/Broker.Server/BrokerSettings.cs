using Broker.Cluster;
using Broker.Core.Hosting;
using Broker.PluginHost;
using Broker.Configuration;
using Broker.Server.Listeners;
using Broker.Server.Management;
using Microsoft.Extensions.Configuration;

namespace Broker.Server;

/// <summary>
/// Where the broker lives (home, etc, data) and every options class bound from <c>etc/broker.conf</c> and
/// <c>BROKER_*</c> environment variables. Loading collects every problem and throws one
/// <see cref="ConfigurationException"/> naming file, line and key for each.
/// </summary>
internal sealed class BrokerSettings
{
    /// <summary>Every options type bound from broker.conf, in order; the shipped etc/broker.conf documents exactly these.</summary>
    public static readonly Type[] OptionsTypes =
        [.. new BrokerSettings { Home = "", EtcDirectory = "", DataDirectory = "" }.Sections().Select(section => section.GetType())];

    public required string Home { get; init; }
    public required string EtcDirectory { get; init; }
    public required string DataDirectory { get; init; }

    /// <summary>
    /// The core's keys (node, broker, mqtt, session, access control, persistence): bound here through its sections, read
    /// through its few public values; its options classes are the core's own.
    /// </summary>
    public CoreSettings Core { get; } = new();

    /// <summary>Every MQTT listener by kind and name (<c>listener.&lt;kind&gt;.&lt;name&gt;*</c>).</summary>
    public ListenersOptions Listeners { get; } = new();

    /// <summary>Every MQTT listener's options, enabled or not, in start order, each knowing its name.</summary>
    public IReadOnlyList<MqttListenerOptions> MqttListeners => Listeners.Named();
    public LogOptions Log { get; } = new();
    public PluginHostOptions Plugins { get; } = new();
    public ManagementOptions Management { get; } = new();
    public ClusterOptions Cluster { get; } = new();

    /// <summary>data/cluster.state (ctl cluster join/leave), already applied to <see cref="Cluster"/>; null if there is none.</summary>
    public ClusterState? ClusterState { get; private set; }

    /// <summary>persistence.dir: absolute as given, else relative to the data directory.</summary>
    public string PersistenceDirectory => Path.GetFullPath(Path.Combine(DataDirectory, Core.PersistenceDirectory));

    public string ConfFile => Path.Combine(EtcDirectory, "broker.conf");

    /// <summary>What start-up should warn about (unknown BROKER_* variables); logged once the logger exists.</summary>
    public List<string> Warnings { get; } = [];

    /// <summary>plugins.directory: absolute as given, else relative to the broker home.</summary>
    public string PluginsDirectory => Path.GetFullPath(Path.Combine(Home, Plugins.Directory));

    /// <summary>The shipped plugins, which the build bundles next to the broker's own assembly.</summary>
    public static string BundledPluginsDirectory => Path.Combine(AppContext.BaseDirectory, "plugins");

    /// <summary>Where plugins are looked up by name: plugins.directory first (so an operator's copy wins), then the bundled ones.</summary>
    public IReadOnlyList<string> PluginSearchPath => [PluginsDirectory, BundledPluginsDirectory];

    /// <summary>A file named in the configuration: absolute as given, else relative to the etc directory.</summary>
    public string ResolveEtcPath(string path) => Path.GetFullPath(Path.Combine(EtcDirectory, path));

    public static BrokerSettings Load(string home, string? etc, string? data, IDictionary<string, string>? environment = null)
    {
        home = Path.GetFullPath(home);
        var settings = new BrokerSettings
        {
            Home = home,
            EtcDirectory = Path.GetFullPath(etc ?? Path.Combine(home, "etc")),
            DataDirectory = Path.GetFullPath(data ?? Path.Combine(home, "data")),
        };
        var builder = new ConfigurationBuilder().AddConfFile(settings.ConfFile, optional: true);
        if (environment is null)
            builder.AddBrokerEnvironment();
        else
            builder.AddBrokerEnvironment(environment);
        var configuration = builder.Build();

        var errors = new List<ConfigurationError>();
        var known = ConfBinder.KnownKeys(OptionsTypes);
        errors.AddRange(ConfBinder.CheckUnknownKeys(configuration, known));
        // BROKER_HOME is the home itself; BROKER_PLUGINS__<NAME>__<KEY> belongs to that plugin's .conf.
        settings.Warnings.AddRange(ConfBinder.UnknownEnvironmentVariables(configuration, known,
            key => key == "home" || (key.StartsWith("plugins.", StringComparison.Ordinal) && key.AsSpan().Count('.') >= 2)));
        foreach (var options in settings.Sections())
            errors.AddRange(ConfBinder.TryBind(configuration, options));
        // What ctl cluster join/leave decided overrides cluster.enable and cluster.nats.servers (broker.conf is not rewritten).
        var clustered = settings.Cluster.Enable;
        try
        {
            settings.ClusterState = ClusterState.Read(settings.DataDirectory);
            settings.ClusterState?.ApplyTo(settings.Cluster);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            errors.Add(new ConfigurationError(null, null, null, ex.Message));
        }
        ConfigurationException.ThrowIfAny(errors);
        // In a cluster every node needs its own name; the single-node default would be everyone's, so a node left at
        // it is named after its host, as EMQX's emqx@host; one that left (data/cluster.state) keeps that name, to join again as itself.
        if (clustered || settings.Cluster.Enable)
            settings.Core.NameNodeAfterHostIfDefault(System.Net.Dns.GetHostName());
        return settings;
    }

    /// <summary>Every options object bound from broker.conf, in the order etc/broker.conf documents them.</summary>
    private object[] Sections() =>
    [
        Core.NodeSection, Listeners, Core.MqttSection, Core.SessionSection, Core.AccessSection, Log, Plugins, Management,
        Core.PersistenceSection, Cluster,
    ];
}
