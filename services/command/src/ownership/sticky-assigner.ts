import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

import { planAssignment } from './assignment-plan';

export const ASSIGNER_NAME = 'VeveeStickyAssigner';

/** The data each command replica advertises in its consumer group member metadata. */
export interface MemberAdvert {
  /** The base URL other replicas forward requests to. */
  url: string;
  owned: number[];
}

export function decodeAdvert(userData: Buffer | null | undefined): MemberAdvert | undefined {
  if (userData === null || userData === undefined || userData.length === 0) return undefined;
  try {
    const advert = JSON.parse(userData.toString('utf8')) as Partial<MemberAdvert>;
    if (typeof advert.url !== 'string' || !Array.isArray(advert.owned)) return undefined;
    return { url: advert.url, owned: advert.owned.filter((partition) => Number.isInteger(partition)) };
  } catch {
    return undefined;
  }
}

/**
 * Creates a kafkajs partition assigner that keeps partitions where they are when it
 * can, so a replica joining or leaving moves only its share, and that carries
 * each member's RPC URL in its metadata for request forwarding.
 */
export function stickyAssigner(advert: () => MemberAdvert): PartitionAssigner {
  return ({ cluster }) => ({
    name: ASSIGNER_NAME,
    version: 1,
    async assign({ members, topics }) {
      const claims = members.map((member) => ({
        memberId: member.memberId,
        owned: decodeAdvert(AssignerProtocol.MemberMetadata.decode(member.memberMetadata)?.userData)?.owned ?? [],
      }));
      const plans = new Map<string, Record<string, number[]>>(members.map((member) => [member.memberId, {}]));
      for (const topic of topics) {
        const partitions = cluster.findTopicPartitionMetadata(topic).map((metadata) => metadata.partitionId);
        for (const [memberId, assigned] of planAssignment(partitions, claims)) {
          plans.get(memberId)![topic] = assigned;
        }
      }
      return members.map((member) => ({
        memberId: member.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: plans.get(member.memberId)!,
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return {
        name: ASSIGNER_NAME,
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1,
          topics,
          userData: Buffer.from(JSON.stringify(advert())),
        }),
      };
    },
  });
}
