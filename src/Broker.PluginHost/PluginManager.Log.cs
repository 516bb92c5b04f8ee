using Microsoft.Extensions.Logging;

namespace Broker.PluginHost;

internal sealed partial class PluginManager
{
    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Plugin {Name} {Version} loaded")]
    private static partial void LogLoaded(ILogger logger, string name, string version);

    [LoggerMessage(EventId = 301, Level = LogLevel.Error, Message = "Plugin {Name} failed: {Reason}")]
    private static partial void LogLoadFailed(ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 302, Level = LogLevel.Information, Message = "Plugin {Name} unloaded")]
    private static partial void LogUnloaded(ILogger logger, string name);

    [LoggerMessage(EventId = 303, Level = LogLevel.Warning, Message = "Plugin {Name} is leaking: its code is still in memory {Timeout} after unload")]
    private static partial void LogLeaking(ILogger logger, string name, TimeSpan timeout);

    [LoggerMessage(EventId = 304, Level = LogLevel.Information, Message = "Plugin {Name} reloaded ({Version})")]
    private static partial void LogReloaded(ILogger logger, string name, string version);

    [LoggerMessage(EventId = 305, Level = LogLevel.Error, Message = "Reload of plugin {Name} failed, the running instance is kept: {Reason}")]
    private static partial void LogReloadFailed(ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 306, Level = LogLevel.Warning, Message = "Plugin {Name} did not stop within {Timeout}; unloading it anyway")]
    private static partial void LogStopTimeout(ILogger logger, string name, TimeSpan timeout);

    [LoggerMessage(EventId = 307, Level = LogLevel.Error, Message = "Plugin {Name} threw while stopping: {Reason}")]
    private static partial void LogStopFailed(ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 308, Level = LogLevel.Information, Message = "Plugin {Name} started at boot")]
    private static partial void LogBooted(ILogger logger, string name);

    [LoggerMessage(EventId = 309, Level = LogLevel.Error, Message = "Plugin {Name} from loaded_plugins was not started: {Reason}")]
    private static partial void LogBootFailed(ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 310, Level = LogLevel.Warning, Message = "Plugin {Name}: {Warning}")]
    private static partial void LogPrivateDependency(ILogger logger, string name, string warning);
}
