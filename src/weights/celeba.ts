/** The 40 CelebA attributes in the order of list_attr_celeba.txt, which LCNet_40's outputs follow. */
export const CELEBA_ATTRIBUTES = [
  '5_o_Clock_Shadow', 'Arched_Eyebrows', 'Attractive', 'Bags_Under_Eyes', 'Bald', 'Bangs', 'Big_Lips', 'Big_Nose',
  'Black_Hair', 'Blond_Hair', 'Blurry', 'Brown_Hair', 'Bushy_Eyebrows', 'Chubby', 'Double_Chin', 'Eyeglasses',
  'Goatee', 'Gray_Hair', 'Heavy_Makeup', 'High_Cheekbones', 'Male', 'Mouth_Slightly_Open', 'Mustache',
  'Narrow_Eyes', 'No_Beard', 'Oval_Face', 'Pale_Skin', 'Pointy_Nose', 'Receding_Hairline', 'Rosy_Cheeks',
  'Sideburns', 'Smiling', 'Straight_Hair', 'Wavy_Hair', 'Wearing_Earrings', 'Wearing_Hat', 'Wearing_Lipstick',
  'Wearing_Necklace', 'Wearing_Necktie', 'Young',
];

/** CelebA's names as a person would write them, where spacing and case are not enough. */
const READABLE: Record<string, string> = {
  '5_o_Clock_Shadow': "5 o'clock shadow", Gray_Hair: 'Grey hair', Wearing_Hat: 'Hat', Wearing_Earrings: 'Earrings',
  Wearing_Lipstick: 'Lipstick', Wearing_Necklace: 'Necklace', Wearing_Necktie: 'Necktie', Heavy_Makeup: 'Heavy make-up',
};

/** How an attribute reads in the editor: 'Blond_Hair' -> 'Blond hair', '5_o_Clock_Shadow' -> "5 o'clock shadow". */
export function attributeLabel(attribute: string): string {
  if (READABLE[attribute]) return READABLE[attribute];
  const words = attribute.replace(/_/g, ' ').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The slider panel's groups, in the order they are shown, and the CelebA attributes in each. */
export const ATTRIBUTE_GROUPS: Array<[string, string[]]> = [
  ['Expression', ['Smiling', 'Mouth_Slightly_Open', 'High_Cheekbones', 'Narrow_Eyes']],
  ['Age & gender', ['Young', 'Male', 'Attractive']],
  ['Hair', ['Bangs', 'Bald', 'Receding_Hairline', 'Black_Hair', 'Blond_Hair', 'Brown_Hair', 'Gray_Hair', 'Straight_Hair', 'Wavy_Hair']],
  ['Beard', ['5_o_Clock_Shadow', 'Goatee', 'Mustache', 'No_Beard', 'Sideburns']],
  ['Accessories & make-up', ['Eyeglasses', 'Wearing_Hat', 'Wearing_Earrings', 'Wearing_Necklace', 'Wearing_Necktie', 'Wearing_Lipstick', 'Heavy_Makeup']],
  ['Face', ['Arched_Eyebrows', 'Bushy_Eyebrows', 'Bags_Under_Eyes', 'Big_Lips', 'Big_Nose', 'Pointy_Nose', 'Chubby', 'Double_Chin', 'Oval_Face', 'Pale_Skin', 'Rosy_Cheeks']],
  ['Photo', ['Blurry']],
];
