namespace Broker.Abstractions.Plugins;

/// <summary>
/// The version of this SDK, <c>major.minor</c>. A plugin declares the version it was built against in its
/// <c>plugin.json</c> (<c>sdkVersion</c>); the host also reads it from the plugin's reference to this assembly.
/// </summary>
/// <remarks>
/// The host loads a plugin built against the same major and a minor no newer than <see cref="Current"/>; it refuses
/// any other with a message naming both versions. A minor version only adds members; a major version may remove
/// or change them.
/// </remarks>
public static class SdkVersion
{
    /// <summary>The SDK version of this build of the broker.</summary>
    public static Version Current { get; } = new(2, 1);

    /// <summary>
    /// Whether a plugin built against <paramref name="builtAgainst"/> can run on <see cref="Current"/>: same major,
    /// minor not newer.
    /// </summary>
    /// <param name="builtAgainst">The SDK version the plugin was built against.</param>
    /// <param name="reason">When false, why, for operators.</param>
    public static bool IsCompatible(Version builtAgainst, out string reason)
    {
        ArgumentNullException.ThrowIfNull(builtAgainst);
        var current = Current;
        if (builtAgainst.Major == 1 && current.Major == 2)
            reason = $"built against SDK {builtAgainst.Major}.{Math.Max(builtAgainst.Minor, 0)}, this broker has SDK {current}: a different major version is incompatible; "
                + "rebuild the plugin against SDK 2 (message properties are the immutable MessageProperties; see \"From SDK 1 to SDK 2\" in plugin-template/README.md) and set sdkVersion to 2.0";
        else if (builtAgainst.Major != current.Major)
            reason = $"built against SDK {builtAgainst.Major}.{Math.Max(builtAgainst.Minor, 0)}, this broker has SDK {current}: a different major version is incompatible";
        else if (builtAgainst.Minor > current.Minor)
            reason = $"built against SDK {builtAgainst.Major}.{builtAgainst.Minor}, newer than this broker's SDK {current}: upgrade the broker";
        else
            reason = "";
        return reason.Length == 0;
    }
}
