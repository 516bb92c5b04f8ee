using System.Diagnostics.Metrics;
using System.Reflection;

namespace Broker.Plugins.Auth;

/// <summary>
/// Lets go of what a database driver hangs on process-wide objects of the host from its statics, which it never
/// releases because it expects to live as long as the process; each keeps an unloaded plugin's code in memory for
/// ever. Found with heap dumps of reloaded plugins: Npgsql 10 keeps a <see cref="Meter"/> in a static field (Meters
/// register in a process-wide list, and its observable instruments call back into Npgsql); MySqlConnector 3's
/// connection pool subscribes a static method to <see cref="AppDomain.ProcessExit"/> and
/// <see cref="AppDomain.DomainUnload"/>. Called when the plugin stops, after the driver's pools are closed; a driver the
/// plugin loads once for the process (plugin.json <c>sharedAssemblies</c>, as auth_pgsql does with Npgsql) is left alone.
/// </summary>
public static class DriverStatics
{
    /// <summary>
    /// Disposes every Meter held in a static field of <paramref name="driver"/>'s non-generic types, and removes its
    /// static (object, EventArgs) methods from the process's exit events (a no-op for those never subscribed).
    /// </summary>
    public static void Release(Assembly driver)
    {
        ArgumentNullException.ThrowIfNull(driver);
        if (!driver.IsCollectible)
            return; // loaded once for the process (plugin.json sharedAssemblies): its statics serve the next instance
        Type?[] types;
        try
        {
            types = driver.GetTypes();
        }
        catch (ReflectionTypeLoadException ex)
        {
            types = ex.Types;
        }
        const BindingFlags statics = BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
        foreach (var type in types)
        {
            if (type is null || type.ContainsGenericParameters)
                continue;
            foreach (var field in type.GetFields(statics))
            {
                if (typeof(Meter).IsAssignableFrom(field.FieldType) && field.GetValue(null) is Meter meter)
                    meter.Dispose();
            }
            foreach (var method in type.GetMethods(statics))
            {
                if (method.ReturnType != typeof(void) || method.ContainsGenericParameters
                    || method.GetParameters() is not [{ ParameterType: var sender }, { ParameterType: var args }]
                    || sender != typeof(object) || args != typeof(EventArgs))
                    continue;
                var handler = (EventHandler)Delegate.CreateDelegate(typeof(EventHandler), method);
                AppDomain.CurrentDomain.ProcessExit -= handler;
                AppDomain.CurrentDomain.DomainUnload -= handler;
            }
        }
    }
}
