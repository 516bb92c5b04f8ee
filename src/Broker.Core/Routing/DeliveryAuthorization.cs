namespace Broker.Core.Routing;

/// <summary>
/// Whether messages delivered through a subscription must be authorized one by one, as one <see cref="long"/> per
/// subscription: the authorization epoch at which its SUBSCRIBE was decided, shifted left, and one bit "check each
/// delivery". A subscription granted in full under the current epoch costs a compare per message and nothing more.
/// </summary>
/// <remarks>
/// <para>
/// The router's epoch (<see cref="Router{TSubscriber}.AuthorizationEpoch"/>) moves when the rules may have changed:
/// acl.conf reloaded, a <c>client.authorize</c> callback registered or removed, a plugin's own request. From then on a
/// subscription decided under an older epoch is checked per message, which is always correct, until the broker has
/// authorized it again and stored the new decision with the new epoch.
/// </para>
/// <para>
/// Subscriptions made by a plugin or the management API on a client's behalf were never authorized and never are:
/// they are <see cref="Trusted"/>.
/// </para>
/// </remarks>
internal static class DeliveryAuthorization
{
    /// <summary>Never checked, whatever the epoch.</summary>
    public const long Trusted = long.MinValue;

    /// <summary>A decision taken under <paramref name="epoch"/>.</summary>
    public static long Decided(long epoch, bool checkEachDelivery) => (epoch << 1) | (checkEachDelivery ? 1L : 0L);

    /// <summary>Whether <paramref name="authorization"/> was decided under <paramref name="epoch"/> (by its rules or newer ones).</summary>
    public static bool IsDecidedUnder(long authorization, long epoch) => authorization != Trusted && (authorization >> 1) == epoch;

    /// <summary>Whether a delivery under the current <paramref name="epoch"/> must be authorized.</summary>
    public static bool IsNeeded(long authorization, long epoch) =>
        authorization != Trusted && ((authorization & 1) != 0 || (authorization >> 1) != epoch);
}
