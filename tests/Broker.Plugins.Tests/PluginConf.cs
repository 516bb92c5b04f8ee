using Broker.Abstractions.Plugins;
using Broker.Configuration;
using Microsoft.Extensions.Configuration;

namespace Broker.Plugins.Tests;

/// <summary>Binds a plugin's options from .conf lines exactly as the host does for <c>IPluginContext.BindOptions</c>.</summary>
public static class PluginConf
{
    /// <summary>Binds <paramref name="lines"/> as etc/plugins/<paramref name="name"/>.conf, through the authors' <see cref="PluginOptions"/>.</summary>
    /// <exception cref="PluginConfigurationException">A value is bad; one "file:line: key ..." line per problem.</exception>
    public static T Bind<T>(string name, params string[] lines) where T : new() =>
        PluginOptions.Parse<T>(string.Join('\n', lines), name + ".conf");

    /// <summary>
    /// Loads <paramref name="lines"/> as etc/plugins/<paramref name="name"/>.conf, for plugins that read numbered keys
    /// themselves: the configuration and <c>IPluginContext.OriginOf</c> over it, as the host gives them
    /// (<c>&lt;name&gt;.conf:&lt;line&gt;</c>).
    /// </summary>
    /// <exception cref="PluginConfigurationException">A line is malformed.</exception>
    public static (IConfiguration Configuration, Func<string, string?> OriginOf) Load(string name, params string[] lines)
    {
        IConfiguration configuration;
        try
        {
            configuration = new ConfigurationBuilder()
                .Add(new ConfFileConfigurationSource(name + ".conf", optional: false, string.Join('\n', lines)))
                .Build();
        }
        catch (ConfigurationException ex)
        {
            throw new PluginConfigurationException(ex.Message);
        }
        return (configuration, key => PluginConfiguration.OriginOf(configuration, key));
    }

    /// <summary>The checkout's root (the folder holding Broker.sln).</summary>
    public static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Broker.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Broker.sln not found above " + AppContext.BaseDirectory);
    }
}
